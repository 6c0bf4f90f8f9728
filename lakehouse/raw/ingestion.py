"""Ingestion columns every raw table carries, so each row can be traced to its source batch."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

INGESTION_COLUMNS = ("_ingested_at", "_source", "_batch_id", "_run_id", "_row_number")


def with_ingestion_columns(
    rows: pl.DataFrame, *, source: str, batch_id: str, run_id: str, ingested_at: datetime
) -> pl.DataFrame:
    """Add `_ingested_at`, `_source`, `_batch_id`, `_run_id` and, unless present, `_row_number`.

    `_row_number` is the row's position in its batch (for files: the line number), so
    (`_batch_id`, `_row_number`) identifies every raw row.
    """
    if "_row_number" not in rows.columns:
        rows = rows.with_row_index("_row_number", offset=1).with_columns(pl.col("_row_number").cast(pl.Int64))
    return rows.with_columns(
        pl.lit(ingested_at, pl.Datetime("us", "UTC")).alias("_ingested_at"),
        pl.lit(source).alias("_source"),
        pl.lit(batch_id).alias("_batch_id"),
        pl.lit(run_id).alias("_run_id"),
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
