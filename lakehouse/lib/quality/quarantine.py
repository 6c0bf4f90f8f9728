"""Quarantine: rejected rows, kept whole as they arrived, with the rules they broke.

Each refined table has `quarantine/<table>`: the original raw record (every raw column, including
`_batch_id` and `_row_number`, which identify it) plus `_rules`, `_quarantined_at` and
`_quarantine_run_id`. Appended idempotently per raw batch, so re-running a refine never duplicates it.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from lakehouse.lib.columns import IDENTITY
from lakehouse.lib.quality.validation import RULES
from lakehouse.lib.storage.retention import Retention

PROBLEMS_LOGGED = 20  # problem lines written to the run log per asset; the rest are counted
QUARANTINED_AT = "_quarantined_at"
# A rejected record not fixed within three months is reported, then dropped with its raw record
# (the reconciliation then counts neither): quarantined records hold raw personal data.
RETENTION = Retention(rows_days=90, date_column=QUARANTINED_AT)


def quarantine_rows(
    raw_batch: pl.DataFrame | pl.LazyFrame, rejected: pl.DataFrame, run_id: str, at: datetime
) -> pl.DataFrame:
    """The raw records behind the rejected rows, labelled with their rules and this run.

    `raw_batch` may be lazy: then only the rejected records are read back from raw.
    """
    reasons = rejected.select(*IDENTITY, RULES)
    # Filters first (pushed down into the scan), then the exact join on the row identity.
    candidates = raw_batch.lazy().filter(
        pl.col(column).is_in(reasons.get_column(column).unique().implode()) for column in IDENTITY
    )
    matched = candidates.join(reasons.lazy(), on=list(IDENTITY), how="inner").collect(engine="streaming")
    return matched.with_columns(
        pl.lit(at, pl.Datetime("us", "UTC")).alias(QUARANTINED_AT),
        pl.lit(run_id).alias("_quarantine_run_id"),
    )


def describe(rows: pl.DataFrame, table: str, limit: int = 20) -> list[str]:
    """One readable line per quarantined row: table, source, row and rules."""
    lines = rows.head(limit).select(
        pl.format(
            "{} {} row {}: {}",
            pl.lit(table),
            pl.col("_batch_id"),
            pl.col("_row_number"),
            pl.col(RULES).list.join(", "),
        )
    )
    return lines.to_series().to_list()
