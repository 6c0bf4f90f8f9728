"""What the IO manager tells of each commit it makes, and the interface of whoever listens.

The IO manager only reads and writes; what else follows a write (quality metrics, the audit log)
is a `CommitObserver`, a resource the IO manager is given and calls once a write has committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import polars as pl

from lakehouse.lib.storage.delta_tables import WriteResult
from lakehouse.lib.storage.write_spec import WriteSpec, plain


@dataclass(frozen=True)
class Commit:
    """One committed write of an asset's output."""

    table: str  # `refined/orders`
    run_id: str
    spec: WriteSpec
    result: WriteResult
    written: pl.DataFrame | pl.LazyFrame  # the rows the asset output (lazy: read back, streamed)
    actions: pl.DataFrame  # the table's files after the commit, with their statistics
    definition_metadata: Mapping[str, Any]  # the asset's (keys, monitored columns, …)
    output_metadata: Mapping[str, Any]  # what the asset reported with its output
    step_started_at: float | None  # when the step began (Unix time), if the run recorded it
    written_nulls: Mapping[str, int] | None = None  # nulls per column, counted as a stream was written

    def declared(self, key: str) -> Any:
        """The plain value of a definition metadata entry (Dagster wraps them as MetadataValues)."""
        return plain(self.definition_metadata.get(key))


class CommitObserver(dg.ConfigurableResource):
    """Called by the IO manager after each commit that made a new table version."""

    def committed(self, commit: Commit) -> None:
        raise NotImplementedError
