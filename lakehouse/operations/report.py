"""The data-quality report's data: is the data OK now, and how has its quality been trending?

Everything here returns Polars frames (rendering is `report_html`'s job). The sources are the
lakehouse's own tables (the audit log, `quality/metrics`, the quarantine tables) and the Dagster
instance (check evaluations, materialisations). A Dagster instance may hold runs of other data
folders (tests share one, a developer may point two folders at one), so the report only reads the
runs that wrote to *this* lakehouse: the run ids in its audit log.

Tables are named as in the catalog, `layer.table` (`refined.orders`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from deltalake import DeltaTable

from lakehouse.components.declared import file_sets, refined_tables
from lakehouse.lib.column_lineage import ColumnLineage
from lakehouse.lib.quality import metrics
from lakehouse.lib.quality.run_warnings import HELD_BACK
from lakehouse.lib.storage import audit
from lakehouse.lib.storage.location import join
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.operations.replay import rules_summary

ANOMALY_SUFFIX = "_anomaly"
# What anomaly checks report besides the value they judged: the history, and counts of columns.
CONTEXT_METADATA = {"median", "history_runs", "columns_judged", "columns_flagged"}
TIME = pl.Datetime("us", "UTC")
RUNS_SCHEMA = {"run_id": pl.String, "at": TIME}
CHECKS_SCHEMA = {
    "run_id": pl.String,
    "at": TIME,
    "table": pl.String,
    "check": pl.String,
    "outcome": pl.String,  # passed, warning (failed with severity WARN) or failed
    "observed": pl.String,  # anomaly checks: the name of the value judged ...
    "value": pl.Float64,  # ... the value itself ...
    "expected_range": pl.String,  # ... and the range it was judged against
}
OUTCOME_ORDER = pl.Enum(["failed", "warning", "passed"])
IS_ANOMALY = pl.col("check").str.ends_with(ANOMALY_SUFFIX)
FLAGGED = IS_ANOMALY & (pl.col("outcome") != "passed")


@dataclass(frozen=True)
class ReportData:
    """What the report shows, gathered once."""

    generated_at: datetime
    runs: pl.DataFrame  # the runs reported on: run_id, at (their first write), oldest first
    checks: pl.DataFrame  # check evaluations of those runs (CHECKS_SCHEMA)
    metrics: pl.DataFrame  # quality/metrics rows of those runs, long format
    quarantine_rules: pl.DataFrame  # table, rule, rows (a row breaking two rules counts under both)
    quarantine_runs: pl.DataFrame  # table, run_id, at, rows: rows each run quarantined
    freshness: pl.DataFrame  # table, policy, last_materialised, state
    lineage: ColumnLineage  # every table's column lineage, as the definitions declare it

    @property
    def is_empty(self) -> bool:
        return self.runs.is_empty()


def gather(
    tables_root: Path | str,
    instance: dg.DagsterInstance,
    definitions: dg.Definitions,
    runs: int = 30,
    now: datetime | None = None,
) -> ReportData:
    """The report's data over the newest `runs` runs of the lakehouse in `tables_root`."""
    all_runs = lakehouse_runs(tables_root)
    window = all_runs.tail(runs)
    run_ids = window.get_column("run_id").to_list()
    now = now or datetime.now(UTC)
    return ReportData(
        generated_at=now,
        runs=window,
        checks=check_results(instance, run_ids),
        metrics=metric_history(tables_root, run_ids),
        quarantine_rules=quarantine_by_rule(tables_root),
        quarantine_runs=quarantine_by_run(tables_root),
        freshness=freshness(definitions, instance, all_runs.get_column("run_id").to_list(), now),
        lineage=ColumnLineage.from_definitions(definitions),
    )


def _table_name(column: str) -> pl.Expr:
    """An asset key string (`refined/orders`) as the catalog names the table (`refined.orders`)."""
    return pl.col(column).str.replace_all("/", ".", literal=True)


def lakehouse_runs(tables_root: Path | str) -> pl.DataFrame:
    """Every run that wrote to the lakehouse (from its audit log), at its first write, oldest first."""
    uri = join(tables_root, *audit.AUDIT_TABLE)
    if not DeltaTable.is_deltatable(uri):
        return pl.DataFrame(schema=RUNS_SCHEMA)
    return (
        pl.scan_delta(uri)
        .filter(pl.col("operation") == "write", pl.col("run_id") != "")
        .group_by("run_id")
        .agg(pl.col("at").min())
        .sort("at", "run_id")
        .collect()
    )


def check_results(instance: dg.DagsterInstance, run_ids: Iterable[str]) -> pl.DataFrame:
    """Every asset check evaluated in the given runs, as the Dagster instance recorded it."""
    rows = [
        _check_row(run_id, record.event_log_entry)
        for run_id in run_ids
        for record in instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
    ]
    return pl.DataFrame(rows, schema=CHECKS_SCHEMA, orient="row").with_columns(_table_name("table"))


def _check_row(run_id: str, entry) -> tuple:
    evaluation = entry.dagster_event.event_specific_data
    if evaluation.passed:
        outcome = "passed"
    else:
        outcome = "warning" if evaluation.severity == dg.AssetCheckSeverity.WARN else "failed"
    metadata = {name: value.value for name, value in evaluation.metadata.items()}
    observed = _observed(metadata) if evaluation.check_name.endswith(ANOMALY_SUFFIX) else None
    return (
        run_id,
        datetime.fromtimestamp(entry.timestamp, UTC),
        evaluation.asset_key.to_user_string(),
        evaluation.check_name,
        outcome,
        observed,
        None if observed is None else float(metadata[observed]),
        metadata.get("expected_range"),
    )


def _observed(metadata: dict) -> str | None:
    """The metadata entry holding the value an anomaly check judged.

    By convention the one numeric entry that is not context (`CONTEXT_METADATA`); none for a check
    that reports no such entry. The instance does not keep the entries' order, so "the first" would
    not do.
    """
    numeric = sorted(
        name
        for name, value in metadata.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and name not in CONTEXT_METADATA
    )
    return numeric[0] if numeric else None


def checks_per_run(runs: pl.DataFrame, checks: pl.DataFrame) -> pl.DataFrame:
    """Checks passed, warning and failed in each run (0 for a run that evaluated none), oldest first."""
    counts = checks.group_by("run_id").agg(
        (pl.col("outcome") == outcome).sum().alias(outcome) for outcome in ("passed", "warning", "failed")
    )
    return (
        runs.join(counts, on="run_id", how="left")
        .with_columns(pl.col("passed", "warning", "failed").fill_null(0))
        .sort("at", "run_id")
    )


def latest_checks(checks: pl.DataFrame) -> pl.DataFrame:
    """Each check's newest outcome; failing checks first, then warnings, then the passed ones."""
    return (
        checks.sort("at")
        .group_by("table", "check")
        .last()
        .sort(pl.col("outcome").cast(OUTCOME_ORDER), "table", "check")
        .select("table", "check", "outcome", "at", "run_id")
    )


def anomalies(checks: pl.DataFrame) -> pl.DataFrame:
    """The anomaly checks that flagged their value (newest first), with the range it was judged by."""
    return (
        checks.filter(FLAGGED)
        .sort("at", descending=True)
        .select("at", "table", "check", "observed", "value", "expected_range", "run_id")
    )


def metric_history(tables_root: Path | str, run_ids: list[str]) -> pl.DataFrame:
    """The quality metrics recorded by the given runs (any metric name), oldest first."""
    uri = join(tables_root, *metrics.METRICS_TABLE)
    if not DeltaTable.is_deltatable(uri):
        return pl.DataFrame(schema=metrics.SCHEMA).rename({"table_name": "table"})
    return (
        pl.scan_delta(uri)
        .filter(pl.col("run_id").is_in(run_ids))
        .rename({"table_name": "table"})
        .with_columns(_table_name("table"))
        .sort("at")
        .collect()
    )


def latest_metrics(history: pl.DataFrame) -> pl.DataFrame:
    """Each table's metrics (by name and column) at their newest value, with the value before it."""
    return (
        history.sort("at")
        .group_by("table", "metric", "column")
        .agg(pl.col("value").last(), pl.col("value").shift(1).last().alias("previous"))
        .sort("table", "metric", "column")
    )


@dataclass(frozen=True)
class QuarantineTable:
    """A quarantine table and the table whose input it holds back."""

    name: str
    key: dg.AssetKey
    guards: str  # e.g. `refined.payments`, or `raw.supplier_inventory` for its files


def quarantine_tables() -> list[QuarantineTable]:
    """Every quarantine table: rows refined tables rejected, and files raw tables could not read."""
    rows = [QuarantineTable(t.name, t.quarantine_key, f"refined.{t.name}") for t in refined_tables()]
    files = [
        QuarantineTable(f"{f.name}_files", f.rejected_files_key, f"raw.{f.name}")
        for f in file_sets().values()
    ]
    return rows + files


def quarantine_by_rule(tables_root: Path | str) -> pl.DataFrame:
    """Rows now in quarantine per table and rule; files quarantined whole count as rows of `<set>_files`."""
    store = DeltaStore(root=str(tables_root))
    files = [
        frame.group_by("rule")
        .len()
        .select(pl.lit(f"{f.name}_files").alias("table"), "rule", pl.col("len").alias("rows"))
        for f in file_sets().values()
        if (frame := store.scan_or_none(f.rejected_files_key)) is not None
    ]
    by_rule = [rules_summary(store, list(refined_tables())), *(frame.collect() for frame in files)]
    return pl.concat(by_rule).sort("table", "rule")


def quarantine_by_run(tables_root: Path | str) -> pl.DataFrame:
    """Rows now in quarantine per table and the run that quarantined them, oldest first.

    Records replayed out of quarantine no longer count: this is what is left to deal with.
    """
    store = DeltaStore(root=str(tables_root))
    per_run = [
        rows.group_by(pl.col("_quarantine_run_id").alias("run_id"))
        .agg(pl.col("_quarantined_at").min().alias("at"), pl.len().alias("rows"))
        .select(
            pl.lit(table.name).alias("table"), pl.lit(table.guards).alias("guards"), "run_id", "at", "rows"
        )
        for table in quarantine_tables()
        if (rows := store.scan_or_none(table.key)) is not None
    ]
    if not per_run:
        schema = {"table": pl.String, "guards": pl.String, "run_id": pl.String, "at": TIME, "rows": pl.UInt32}
        return pl.DataFrame(schema=schema)
    return pl.concat(per_run).sort("at", "table").collect()


def quarantined_rows(quarantine_runs: pl.DataFrame) -> int:
    return int(quarantine_runs.get_column("rows").sum())


def freshness(
    definitions: dg.Definitions, instance: dg.DagsterInstance, run_ids: list[str], now: datetime
) -> pl.DataFrame:
    """Each asset with a time-window freshness policy: its newest materialisation and its state.

    `fresh` within the warn window, `late` past it, `stale` past the fail window, `never` when no
    run of this lakehouse materialised it. `run_ids` are oldest first, as `lakehouse_runs` gives them.
    """
    policies = {
        spec.key.to_user_string(): spec.freshness_policy
        for spec in definitions.resolve_all_asset_specs()
        if getattr(spec.freshness_policy, "fail_window", None) is not None  # a time-window policy
    }
    windows = pl.DataFrame(
        {
            "table": list(policies),
            "warn_after": [p.warn_window and p.warn_window.to_timedelta() for p in policies.values()],
            "fail_after": [p.fail_window.to_timedelta() for p in policies.values()],
        },
        schema={"table": pl.String, "warn_after": pl.Duration("us"), "fail_after": pl.Duration("us")},
    )
    newest = _newest_materialisations(instance, reversed(run_ids), set(policies))
    age = pl.lit(now, TIME) - pl.col("last_materialised")
    return (
        windows.join(newest, on="table", how="left")
        .with_columns(
            _table_name("table"),
            pl.when(pl.col("last_materialised").is_null())
            .then(pl.lit("never"))
            .when(age > pl.col("fail_after"))
            .then(pl.lit("stale"))
            .when(age > pl.col("warn_after"))
            .then(pl.lit("late"))
            .otherwise(pl.lit("fresh"))
            .alias("state"),
        )
        .sort("table")
    )


def _newest_materialisations(
    instance: dg.DagsterInstance, run_ids: Iterable[str], wanted: set[str]
) -> pl.DataFrame:
    """Newest materialisation time of each wanted asset, reading runs (newest first) until all are found."""
    seen: list[tuple[str, datetime]] = []
    missing = set(wanted)
    for run_id in run_ids:
        if not missing:
            break
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        for record in records:
            key = record.event_log_entry.dagster_event.asset_key.to_user_string()
            seen.append((key, datetime.fromtimestamp(record.event_log_entry.timestamp, UTC)))
            missing.discard(key)
    frame = pl.DataFrame(seen, schema={"table": pl.String, "last_materialised": TIME}, orient="row")
    return frame.group_by("table").agg(pl.col("last_materialised").max())


def table_summary(data: ReportData) -> pl.DataFrame:
    """One row per table: rows now, newest checks passed/warning/failed, rows quarantined, freshness."""
    latest = latest_checks(data.checks)
    checks = latest.group_by("table").agg(
        (pl.col("outcome") == outcome).sum().alias(f"checks_{outcome}")
        for outcome in ("passed", "warning", "failed")
    )
    rows = (
        data.metrics.filter(pl.col("metric") == "rows")
        .group_by("table")
        .agg(pl.col("value").sort_by("at").last().cast(pl.Int64).alias("rows"))
    )
    quarantined = data.quarantine_runs.group_by(pl.col("guards").alias("table")).agg(
        pl.col("rows").sum().alias("quarantined")
    )
    tables = pl.concat([rows.select("table"), checks.select("table")]).unique()
    return (
        tables.join(rows, on="table", how="left")
        .join(checks, on="table", how="left")
        .join(quarantined, on="table", how="left")
        .join(data.freshness.select("table", "state"), on="table", how="left")
        .with_columns(pl.col("^checks_.*$", "quarantined").fill_null(0))
        .with_columns(pl.col("state").fill_null("no policy").alias("freshness"))
        .drop("state")
        .sort(pl.col("checks_failed") + pl.col("checks_warning"), "table", descending=[True, False])
    )


def held_back(data: ReportData) -> pl.DataFrame:
    """Rows held back from a table now (its newest report), by reason: waiting for a rate, a header."""
    latest = latest_metrics(data.metrics.filter(pl.col("metric") == HELD_BACK))
    rows = pl.col("value").cast(pl.Int64).alias("rows")
    return latest.select("table", pl.col("column").alias("reason"), rows)


def summary_line(data: ReportData) -> str:
    """One line answering "is my data OK?"."""
    if data.is_empty:
        return "no runs have written to this lakehouse yet"
    latest = latest_checks(data.checks)
    outcomes = latest.get_column("outcome")
    failed, warnings = (outcomes == "failed").sum(), (outcomes == "warning").sum()
    stale = data.freshness.filter(pl.col("state").is_in(["stale", "never"])).height
    verdict = "OK" if failed == 0 and stale == 0 else "NEEDS ATTENTION"
    return (
        f"{verdict}: {latest.height} checks ({failed} failed, {warnings} warnings), "
        f"{latest.filter(FLAGGED).height} anomalies flagged, "
        f"{quarantined_rows(data.quarantine_runs):,} rows in quarantine, "
        f"{held_back(data).get_column('rows').sum():,} rows held back, {stale} stale assets, "
        f"over {data.runs.height} run{'' if data.runs.height == 1 else 's'}"
    )
