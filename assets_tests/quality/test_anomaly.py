"""Volume anomalies, judged with median and MAD against a table's own history."""

from datetime import UTC, datetime, timedelta

import polars as pl

from lakehouse.quality.anomaly import expected_range, volume_verdict

START = datetime(2025, 1, 1, tzinfo=UTC)


def history(values: list[float]) -> pl.DataFrame:
    """One run a day: run-0 … run-N, the last one being the run under judgement."""
    return pl.DataFrame(
        {
            "at": [START + timedelta(days=i) for i in range(len(values))],
            "run_id": [f"run-{i}" for i in range(len(values))],
            "value": values,
        }
    )


# The initial load, then a normal week of new rows.
NORMAL = [10_046.0, 54.0, 55.0, 53.0, 56.0, 54.0, 55.0]


def test_expected_range_is_median_plus_minus_five_robust_deviations():
    expected = expected_range([54.0, 55.0, 53.0, 56.0, 54.0, 55.0])
    # median 54.5, MAD 1 -> 1.4826; floored at 10% of the median: 5.45 -> 54.5 ± 27.25
    assert (expected.median, expected.low, expected.high) == (54.5, 27.25, 81.75)


def test_a_normal_run_is_not_flagged():
    result = volume_verdict(history([*NORMAL, 57.0]), "run-7")
    assert result.passed
    assert result.metadata["history_runs"].value == 7


def test_a_run_ten_times_the_usual_volume_is_flagged_as_a_warning_with_its_expected_range():
    result = volume_verdict(history([*NORMAL, 550.0]), "run-7")
    assert not result.passed
    assert result.severity.value == "WARN"
    # The initial load (10,046) does not move the median: 55 ± 5 x 5.5 (10% floor).
    assert result.metadata["expected_range"].value == "28 .. 82"
    assert result.metadata["rows_written"].value == 550.0


def test_a_run_that_wrote_nothing_or_a_short_history_is_not_judged():
    assert volume_verdict(history(NORMAL), "run-99").metadata["note"].value == "no new rows in this run"
    short = volume_verdict(history([10_046.0, 54.0, 900.0]), "run-2")
    assert short.passed
    assert short.metadata["note"].value == "2 earlier runs with new rows, 5 needed"
