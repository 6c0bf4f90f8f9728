"""Quality metrics per table and run, kept in the Delta table `quality/metrics` (long format).

Recorded after every committed write: rows, rows written, inserted, updated, deleted, and the null
rate of every column. All of it comes from the Delta log's statistics, so no data is scanned.
Anomaly checks and the quality report read their history from here.
"""

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from deltalake import DeltaTable, write_deltalake

from lakehouse.storage.delta_tables import WriteResult, file_stats

METRICS_TABLE = ("quality", "metrics")
SCHEMA = {
    "at": pl.Datetime("us", "UTC"),
    "run_id": pl.String,
    "table_name": pl.String,
    "version": pl.Int64,
    "metric": pl.String,
    "column": pl.String,
    "value": pl.Float64,
}


def table_metrics(actions: pl.DataFrame, result: WriteResult) -> dict[tuple[str, str], float]:
    """(metric, column) -> value for a snapshot (its add actions) and the write that made it."""
    rows = file_stats(actions)["rows"]
    metrics = {
        ("rows", ""): rows,
        ("rows_written", ""): result.rows_written,
        ("rows_inserted", ""): result.inserted,
        ("rows_updated", ""): result.updated,
        ("rows_deleted", ""): result.deleted,
    }
    for name in actions.columns:
        if name.startswith("null_count.") and rows:
            nulls = actions.get_column(name).cast(pl.Int64).sum()
            metrics[("null_rate", name.removeprefix("null_count."))] = nulls / rows
    return metrics


def record(
    tables_dir: Path | str,
    *,
    table: str,
    run_id: str,
    version: int | None,
    metrics: dict[tuple[str, str], float],
) -> None:
    at = datetime.now(UTC)
    rows = [
        {
            "at": at,
            "run_id": run_id,
            "table_name": table,
            "version": version,
            "metric": m,
            "column": c,
            "value": v,
        }
        for (m, c), v in metrics.items()
    ]
    write_deltalake(str(Path(tables_dir, *METRICS_TABLE)), pl.DataFrame(rows, schema=SCHEMA), mode="append")


def history(tables_dir: Path | str, table: str, metric: str, column: str = "") -> pl.DataFrame:
    """(at, run_id, value) of one metric of one table, oldest first; empty when none recorded."""
    uri = str(Path(tables_dir, *METRICS_TABLE))
    if not DeltaTable.is_deltatable(uri):
        return pl.DataFrame(schema={k: SCHEMA[k] for k in ("at", "run_id", "value")})
    return (
        pl.scan_delta(uri)
        .filter(pl.col("table_name") == table, pl.col("metric") == metric, pl.col("column") == column)
        .select("at", "run_id", "value")
        .sort("at")
        .collect()
    )
