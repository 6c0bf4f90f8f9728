"""Anomaly detection against each table's own history, with a robust method (median and MAD).

A value is anomalous when it lies further than `THRESHOLD` robust deviations from the median of
earlier runs. The deviation is 1.4826 x MAD (the standard deviation, for normal data), floored at
10% of the median and at a minimum per measure, so that very regular values don't make every small
wobble an anomaly. Three checks, all warnings (they never block), with the expected range in their
metadata:

- `volume_anomaly`: rows a run wrote to a raw table;
- `null_rate_anomaly`: each column's share of nulls among the rows a run wrote;
- `distribution_anomaly`: the median of each monitored numeric column among the rows a run wrote.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import median

import dagster as dg
import polars as pl

from lakehouse.lib.quality import metrics
from lakehouse.lib.quality.checks import TableCheck, markdown
from lakehouse.lib.storage.store import DeltaStore

THRESHOLD = 5.0
MIN_HISTORY = 5
HISTORY_RUNS = 30
MIN_ROWS_SPREAD = 1.0  # rows
MIN_RATE_SPREAD = 0.01  # one percentage point
MIN_MEDIAN_SPREAD = 0.01  # a cent, or a hundredth of a unit


@dataclass(frozen=True)
class Expected:
    median: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def expected_range(past: list[float], min_spread: float = MIN_ROWS_SPREAD) -> Expected:
    centre = median(past)
    mad = median(abs(v - centre) for v in past)
    spread = max(1.4826 * mad, 0.1 * abs(centre), min_spread)
    return Expected(centre, centre - THRESHOLD * spread, centre + THRESHOLD * spread)


# None: the run wrote no rows to judge (the check is then skipped, not passed)
Verdict = Callable[[pl.DataFrame, str], dg.AssetCheckResult | None]


def _anomaly_check(
    table: dg.AssetKey, name: str, description: str, metric: str, column: str | None, verdict: Verdict
) -> TableCheck:
    """A warning check judging this run's `metric` of `table` against the table's history."""
    table_name = "/".join(table.path)

    def anomaly(context: dg.AssetCheckExecutionContext, store: DeltaStore) -> dg.AssetCheckResult | None:
        return verdict(metrics.history(store.root, table_name, metric, column), context.run.run_id)

    return TableCheck(dg.AssetCheckSpec(name, asset=table, description=description), anomaly)


def volume_anomaly_check(table: dg.AssetKey) -> TableCheck:
    """Rows this run wrote to `table`, against the runs before it that wrote any."""
    return _anomaly_check(
        table,
        "volume_anomaly",
        "New rows in this run within the robust range of earlier runs (median ± 5 MADs).",
        "rows_written",
        "",
        volume_verdict,
    )


def null_rate_anomaly_check(table: dg.AssetKey) -> TableCheck:
    """Each column's null rate among the rows this run wrote, against earlier runs."""
    return _anomaly_check(
        table,
        "null_rate_anomaly",
        "Each column's null rate in this run's rows within the robust range of earlier runs.",
        "null_rate",
        None,
        null_rate_verdict,
    )


def distribution_anomaly_check(table: dg.AssetKey) -> TableCheck:
    """The median of each monitored numeric column among this run's rows, against earlier runs."""
    return _anomaly_check(
        table,
        "distribution_anomaly",
        "Each monitored numeric column's median in this run's rows within the robust range of earlier runs.",
        "median",
        None,
        distribution_verdict,
    )


def volume_verdict(written: pl.DataFrame, run_id: str) -> dg.AssetCheckResult | None:
    """Judge the rows written by `run_id` against the earlier runs in `written` (at, run_id, value);
    None when it wrote none."""
    this_run = written.filter(pl.col("run_id") == run_id)
    if this_run.is_empty():
        return None
    value = this_run.get_column("value")[-1]
    earlier = written.filter(pl.col("run_id") != run_id, pl.col("value") > 0)
    past = earlier.get_column("value").to_list()[-HISTORY_RUNS:]
    if len(past) < MIN_HISTORY:
        note = f"{len(past)} earlier runs with new rows, {MIN_HISTORY} needed"
        return dg.AssetCheckResult(passed=True, metadata={"rows_written": value, "note": note})
    expected = expected_range(past)
    return dg.AssetCheckResult(
        passed=expected.contains(value),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows_written": value,
            "expected_range": f"{max(expected.low, 0):,.0f} .. {expected.high:,.0f}",
            "expected_low": float(max(expected.low, 0)),
            "expected_high": float(expected.high),
            "median": expected.median,
            "history_runs": len(past),
        },
    )


def null_rate_verdict(rates: pl.DataFrame, run_id: str) -> dg.AssetCheckResult | None:
    return columns_verdict(rates, run_id, MIN_RATE_SPREAD, low_bound=0.0, high_bound=1.0)


def distribution_verdict(medians: pl.DataFrame, run_id: str) -> dg.AssetCheckResult | None:
    return columns_verdict(medians, run_id, MIN_MEDIAN_SPREAD)


def columns_verdict(
    history: pl.DataFrame,
    run_id: str,
    min_spread: float,
    low_bound: float | None = None,
    high_bound: float | None = None,
) -> dg.AssetCheckResult | None:
    """Judge each column's value in `run_id` against its earlier runs (at, run_id, column, value);
    None when the run wrote no rows."""
    this_run = history.filter(pl.col("run_id") == run_id).group_by("column").agg(pl.col("value").last())
    if this_run.is_empty():
        return None
    earlier = history.filter(pl.col("run_id") != run_id)
    judged = []
    for column, value in this_run.sort("column").iter_rows():  # one row per column, not per data row
        past = earlier.filter(pl.col("column") == column).get_column("value").to_list()[-HISTORY_RUNS:]
        if len(past) >= MIN_HISTORY:
            expected = expected_range(past, min_spread)
            low = expected.low if low_bound is None else max(expected.low, low_bound)
            high = expected.high if high_bound is None else min(expected.high, high_bound)
            judged.append((column, value, expected.median, low, high, not low <= value <= high))
    return _columns_result(judged, len(this_run))


def _columns_result(judged: Sequence[tuple], columns: int) -> dg.AssetCheckResult:
    if not judged:
        note = f"no column has {MIN_HISTORY} earlier runs yet"
        return dg.AssetCheckResult(passed=True, metadata={"columns": columns, "note": note})
    frame = pl.DataFrame(
        judged, schema=["column", "value", "median", "low", "high", "anomalous"], orient="row"
    ).with_columns(pl.col("value", "median", "low", "high").round(4))
    flagged = frame.filter("anomalous").drop("anomalous")
    metadata = {"columns_judged": frame.height, "columns_flagged": flagged.height}
    if flagged.height:
        metadata["flagged"] = markdown(flagged)
        first = flagged.row(0, named=True)
        metadata["expected_range"] = f"{first['column']}: {first['low']} .. {first['high']}"
        metadata["expected_low"], metadata["expected_high"] = float(first["low"]), float(first["high"])
        metadata["value"] = first["value"]
    return dg.AssetCheckResult(
        passed=flagged.is_empty(), severity=dg.AssetCheckSeverity.WARN, metadata=metadata
    )
