"""Anomaly detection against each table's own history, with a robust method (median and MAD).

A value is anomalous when it lies further than `THRESHOLD` robust deviations from the median of
earlier runs. The deviation is 1.4826 x MAD (the standard deviation, for normal data), floored at
10% of the median so that very regular volumes don't make every small wobble an anomaly. Checks
built here warn (they never block): the expected range is in their metadata.
"""

from dataclasses import dataclass
from statistics import median

import dagster as dg
import polars as pl

from lakehouse.quality import metrics
from lakehouse.storage.store import DeltaStore

THRESHOLD = 5.0
MIN_HISTORY = 5
HISTORY_RUNS = 30


@dataclass(frozen=True)
class Expected:
    median: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def expected_range(past: list[float]) -> Expected:
    centre = median(past)
    mad = median(abs(v - centre) for v in past)
    spread = max(1.4826 * mad, 0.1 * abs(centre), 1.0)
    return Expected(centre, centre - THRESHOLD * spread, centre + THRESHOLD * spread)


def volume_anomaly_check(table: dg.AssetKey) -> dg.AssetChecksDefinition:
    """Rows this run wrote to `table`, against the runs before it that wrote any."""
    name = "/".join(table.path)

    @dg.asset_check(
        asset=table,
        name="volume_anomaly",
        blocking=False,
        description="New rows in this run within the robust range of earlier runs (median ± 5 MADs).",
    )
    def volume_anomaly(context: dg.AssetCheckExecutionContext, store: DeltaStore) -> dg.AssetCheckResult:
        return volume_verdict(metrics.history(store.root, name, "rows_written"), context.run.run_id)

    return volume_anomaly


def volume_verdict(written: pl.DataFrame, run_id: str) -> dg.AssetCheckResult:
    """Judge the rows written by `run_id` against the earlier runs in `written` (at, run_id, value)."""
    this_run = written.filter(pl.col("run_id") == run_id)
    if this_run.is_empty():
        return dg.AssetCheckResult(passed=True, metadata={"note": "no new rows in this run"})
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
            "median": expected.median,
            "history_runs": len(past),
        },
    )
