"""Concurrency pools: which steps may run at the same time, across every run of the instance.

Each table's writer is in the pool named after the table (`raw/orders`, `curated/dim_customer`),
and `dagster.yaml` gives every pool one slot (`concurrency: pools: default_limit: 1`). So runs
that write different tables run together, while two steps writing one table never do, whoever
started them: the daemon, the UI, a sensor or `lakehouse run` (the in-process executor claims the
same slots in the instance's storage as the others). Two runs that would read one extraction
watermark are therefore serialised, and the second reads what the first committed (a step reads
its own table at its newest version: `reads.StepReads`).

The day-sliced facts have no pool: runs writing different days of one fact commit together, by
Delta's optimistic concurrency (`delta_tables.SliceConflictError`, retried as a whole step when
two runs replaced the same day).
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg


def table_pool(key: dg.AssetKey) -> str:
    """The pool of the step writing the table of `key`: `raw/orders`."""
    return key.to_user_string()


def writer_pool(key: dg.AssetKey, partitions: Mapping[str, Any] | None = None) -> str | None:
    """The pool of a table's writer: the table's own, none for a day-sliced (partitioned) table."""
    return None if partitions else table_pool(key)
