"""Quality metrics per table and run, kept in the Delta table `quality/metrics` (long format).

Recorded after every committed write, each a (metric, column) pair:

- `rows` (the table, from the Delta log), `rows_written`, `rows_inserted`, `rows_updated`,
  `rows_deleted`;
- `null_rate` of every column and `distinct_keys`, over the rows this write brought (the keys
  counted a bucket at a time: `key_buckets`);
- `median` of each monitored numeric column over those rows (distribution anomalies);
- every number the asset reported with its output (`raw_rows_processed`, `rows_quarantined_now`,
  `duplicates_removed`, …), and each keyed number (`rule_failures/<rule>`, `rule_pass_rate/<rule>`:
  see `keyed_metadata`) as its metric and key;
- `duration_seconds` of the step up to the write.

Anomaly checks and the quality report read their history from here. `QualityRecorder`, the IO
manager's commit observer, records them with the commit's audit-log entry.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import PrivateAttr

from lakehouse.lib.key_buckets import bucket_count, distinct_keys
from lakehouse.lib.storage import audit, delta_tables
from lakehouse.lib.storage.commits import Commit, CommitObserver
from lakehouse.lib.storage.delta_tables import OpenLogs, WriteResult, append_to_log, file_stats
from lakehouse.lib.storage.location import join
from lakehouse.lib.storage.retention import Retention
from lakehouse.lib.storage.snapshots import derived
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import plain
from lakehouse.settings import Settings

METRICS_TABLE = ("quality", "metrics")
# Over a year: anomaly checks judge a run against earlier runs, the report draws trends.
RETENTION = Retention(rows_days=400, date_column="at")
KEY_SEPARATOR = "/"  # of a keyed metadata entry: `<metric>/<key>`
# Definition metadata: numeric columns whose distribution (median of each write) is monitored.
MONITORED_COLUMNS = "lakehouse/monitored_columns"
DISTINCT = "distinct\t"  # the name of the distinct keys in a first pass that counts them
SCHEMA = {
    "at": pl.Datetime("us", "UTC"),
    "run_id": pl.String,
    "table_name": pl.String,
    "version": pl.Int64,
    "metric": pl.String,
    "column": pl.String,
    "value": pl.Float64,
}
Metrics = dict[tuple[str, str], float]


def write_metrics(actions: pl.DataFrame, result: WriteResult) -> Metrics:
    """(metric, column) -> value for a snapshot (its add actions) and the write that made it."""
    return {
        ("rows", ""): file_stats(actions)["rows"],
        ("rows_written", ""): result.rows_written,
        ("rows_inserted", ""): result.inserted,
        ("rows_updated", ""): result.updated,
        ("rows_deleted", ""): result.deleted,
    }


def data_metrics(
    written: pl.DataFrame | pl.LazyFrame,
    keys: Sequence[str],
    monitored: Sequence[str],
    scratch: Path,
    nulls: Mapping[str, int] | None = None,
    key_bucket_rows: int = Settings.key_bucket_rows,
    rows_written: int | None = None,
) -> Metrics:
    """Null rates, distinct keys and monitored medians of the rows written, by the streaming engine
    (a lazy frame: rows written a batch at a time and read back). `nulls`, the null counts tallied
    as a stream was written, spare reading every column back. Distinct keys are counted in the same
    pass when the commit's `rows_written` fit one bucket of `key_bucket_rows`, else in a second pass
    over the key columns, a bucket of keys at a time (`key_buckets`, spilled under `scratch`): the
    count is the same."""
    frame = written.lazy()
    columns = [] if nulls is not None else frame.collect_schema().names()
    one_pass = bool(keys) and rows_written is not None and bucket_count(rows_written, key_bucket_rows) == 1
    exprs = [pl.col(c).null_count().alias(f"nulls\t{c}") for c in columns]
    exprs += [pl.col(c).cast(pl.Float64).median().alias(f"median\t{c}") for c in monitored]
    exprs += [pl.struct(list(keys)).n_unique().alias(DISTINCT)] if one_pass else []
    row = frame.select(pl.len().alias("rows\t"), *exprs).collect(engine="streaming").row(0, named=True)
    rows = row.pop("rows\t")
    if not rows:
        return {}
    counted_distinct = row.pop(DISTINCT) if one_pass else None
    counted = {name.split("\t")[1]: row.pop(name) for name in list(row) if name.startswith("nulls\t")}
    null_rates = {("null_rate", c): n / rows for c, n in (nulls if nulls is not None else counted).items()}
    medians = {tuple(name.split("\t")): value for name, value in row.items() if value is not None}
    if not keys:
        return null_rates | medians
    distinct = counted_distinct if one_pass else distinct_keys(frame, keys, rows, key_bucket_rows, scratch)
    return null_rates | {("distinct_keys", ""): distinct} | medians


def keyed_metadata(metric: str, values: Mapping[str, float]) -> dict[str, float]:
    """One numeric metadata entry per key (`rule_failures/email:valid_email`): the UI plots each over
    time, where a dict would be JSON text; recorded as the metric `metric` of column `key`."""
    return {f"{metric}{KEY_SEPARATOR}{key}": value for key, value in values.items()}


def reported_metrics(output_metadata: Mapping[str, Any]) -> Metrics:
    """The numbers an asset reported with its output: plain and keyed numbers, and dicts of numbers
    by key. Dagster's own entries (`dagster/row_count`) are plain, not keyed."""
    metrics: Metrics = {}
    for name, entry in output_metadata.items():
        value = plain(entry)
        if isinstance(value, int | float) and not isinstance(value, bool):
            keyed = not name.startswith("dagster/")
            metric, _, key = name.partition(KEY_SEPARATOR) if keyed else (name, "", "")
            metrics[(metric, key)] = value
        elif isinstance(value, Mapping):
            numbers = {
                k: v for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)
            }
            metrics.update({(name, key): number for key, number in numbers.items()})
    return metrics


def commit_metrics(commit: Commit, store: DeltaStore) -> Metrics:
    """Every metric of a commit: the write, the rows written, the asset's report, the step's time."""
    keys = commit.declared("business_keys") or []
    monitored = commit.declared(MONITORED_COLUMNS) or []
    started = commit.step_started_at
    return {
        **write_metrics(commit.actions, commit.result),
        **data_metrics(
            commit.written,
            keys,
            monitored,
            store.scratch,
            commit.written_nulls,
            store.key_bucket_rows,
            commit.result.rows_written,
        ),
        **reported_metrics(commit.output_metadata),
        ("duration_seconds", ""): time.time() - started if started is not None else 0.0,
    }


class QualityRecorder(CommitObserver):
    """The IO manager's commit observer: each commit's quality metrics and its audit-log entry,
    appended to the two logs it keeps open for the run (`OpenLogs`: Dagster sets up a fresh copy
    of the resource for each run, or for each step process with the multiprocess or Dask executor)."""

    store: DeltaStore
    _logs: OpenLogs | None = PrivateAttr(default=None)  # None (outside a run): opened at each append

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._logs = OpenLogs()

    def committed(self, commit: Commit) -> None:
        root, version = self.store.root, commit.result.version
        metrics = commit_metrics(commit, self.store)
        record(
            root, table=commit.table, run_id=commit.run_id, version=version, metrics=metrics, logs=self._logs
        )
        audit.record(
            root,
            operation="write",
            table=commit.table,
            version=version,
            run_id=commit.run_id,
            details={"mode": commit.spec.mode.value, **asdict(commit.result)},
            logs=self._logs,
        )


def record(
    tables_root: Path | str,
    *,
    table: str,
    run_id: str,
    version: int | None,
    metrics: Metrics,
    logs: OpenLogs | None = None,
) -> None:
    at = datetime.now(UTC)
    rows = {
        "at": [at] * len(metrics),
        "run_id": [run_id] * len(metrics),
        "table_name": [table] * len(metrics),
        "version": [version] * len(metrics),
        "metric": [m for m, _ in metrics],
        "column": [c for _, c in metrics],
        "value": [float(v) for v in metrics.values()],
    }
    append_to_log(join(tables_root, *METRICS_TABLE), pl.DataFrame(rows, schema=SCHEMA), logs)


def history(tables_root: Path | str, table: str, metric: str, column: str | None = "") -> pl.DataFrame:
    """(at, run_id, column, value) of one metric of one table, oldest first; empty when none.

    `column=None`: every column of the metric (e.g. the null rate of each column). A step's anomaly
    checks of a table (two or three) read its rows from the log once (`snapshots.derived`).
    """
    uri = join(tables_root, *METRICS_TABLE)
    rows = derived(("metrics history", uri, table), lambda: _table_history(uri, table))
    wanted = pl.col("column").is_not_null() if column is None else pl.col("column") == column
    return (
        rows.filter(pl.col("metric") == metric, wanted).select("at", "run_id", "column", "value").sort("at")
    )


def _table_history(uri: str, table: str) -> pl.DataFrame:
    """Every metric the log holds of `table`, in the log's order."""
    columns = ("at", "run_id", "metric", "column", "value")
    if (rows := delta_tables.scan_newest(uri)) is None:
        return pl.DataFrame(schema={k: SCHEMA[k] for k in columns})
    return rows.filter(pl.col("table_name") == table).select(columns).collect()
