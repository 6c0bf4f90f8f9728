"""The audit log: one row per write, replay, restore or maintenance operation, in `audit/log`.

Appends only, so concurrent runs never conflict; the log is itself a Delta table, queryable as
`audit.log` in the catalog.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from lakehouse.lib.storage.delta_tables import OpenLogs, append_to_log, scan_newest
from lakehouse.lib.storage.location import join
from lakehouse.lib.storage.retention import Retention

AUDIT_TABLE = ("audit", "log")
# Two years: a yearly audit sees the previous year whole.
RETENTION = Retention(rows_days=730, date_column="at")
SCHEMA = {
    "at": pl.Datetime("us", "UTC"),
    "operation": pl.String,
    "table_name": pl.String,
    "version": pl.Int64,
    "run_id": pl.String,
    "details": pl.String,
}


def record(
    tables_root: Path | str,
    *,
    operation: str,
    table: str,
    version: int | None,
    run_id: str = "",
    details: dict[str, Any] | None = None,
    logs: OpenLogs | None = None,
) -> None:
    """Append one row; `logs`: the log kept open by its writer (see `OpenLogs`), else opened now."""
    row = {
        "at": [datetime.now(UTC)],
        "operation": [operation],
        "table_name": [table],
        "version": [version],
        "run_id": [run_id],
        "details": [json.dumps(details or {}, default=str, sort_keys=True)],
    }
    append_to_log(join(tables_root, *AUDIT_TABLE), pl.DataFrame(row, schema=SCHEMA), logs)


def tables_with(tables_root: Path | str, operation: str) -> set[str]:
    """The tables (`layer/table`) the log records `operation` on (none without a log)."""
    if (log := scan_newest(join(tables_root, *AUDIT_TABLE))) is None:
        return set()
    rows = log.filter(pl.col("operation") == operation).select("table_name").unique()
    return set(rows.collect().get_column("table_name").to_list())
