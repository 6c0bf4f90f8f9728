"""Volume anomalies, judged with median and MAD against a table's own history."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from lakehouse.lib.quality.anomaly import (
    distribution_verdict,
    expected_range,
    null_rate_verdict,
    volume_verdict,
)

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
    assert (result.metadata["expected_low"], result.metadata["expected_high"]) == (
        dg.FloatMetadataValue(27.5),
        dg.FloatMetadataValue(82.5),
    )
    assert result.metadata["rows_written"].value == 550.0


def test_a_run_that_wrote_nothing_is_skipped_and_a_short_history_not_judged():
    assert volume_verdict(history(NORMAL), "run-99") is None
    short = volume_verdict(history([10_046.0, 54.0, 900.0]), "run-2")
    assert short.passed
    assert short.metadata["note"].value == "2 earlier runs with new rows, 5 needed"


def column_history(values_by_column: dict[str, list[float]]) -> pl.DataFrame:
    """Per column, one run a day: run-0 … run-N, the last one being the run under judgement."""
    return pl.concat(
        [
            history(values).with_columns(pl.lit(column).alias("column"))
            for column, values in values_by_column.items()
        ]
    ).select("at", "run_id", "column", "value")


USUAL_NULLS = [0.02, 0.03, 0.02, 0.025, 0.02, 0.03]


def test_a_column_whose_null_rate_jumps_is_flagged_with_its_expected_range():
    rates = column_history({"email": [*USUAL_NULLS, 0.40], "country": [*USUAL_NULLS, 0.03]})

    result = null_rate_verdict(rates, "run-6")

    assert not result.passed
    assert result.severity.value == "WARN"
    assert (result.metadata["columns_judged"].value, result.metadata["columns_flagged"].value) == (2, 1)
    # median 0.0225, MAD 0.0025 -> spread max(0.0037, 0.00225, 0.01) = 0.01: 0.0225 ± 0.05, floored at 0
    assert result.metadata["expected_range"].value == "email: 0.0 .. 0.0725"
    assert "| email  | 0.4   | 0.0225 | 0.0 | 0.0725 |" in result.metadata["flagged"].value


def test_usual_null_rates_are_not_flagged():
    rates = column_history({"email": [*USUAL_NULLS, 0.05], "country": [*USUAL_NULLS, 0.0]})

    result = null_rate_verdict(rates, "run-6")

    assert result.passed
    assert result.metadata["columns_flagged"].value == 0


def test_a_shifted_median_price_is_a_distribution_anomaly():
    medians = column_history({"unit_price": [20.0, 21.0, 19.5, 20.5, 20.0, 20.0, 200.0]})

    result = distribution_verdict(medians, "run-6")

    assert not result.passed
    # median 20, MAD 0.25 -> spread max(0.37, 2.0, 0.01) = 2: 20 ± 10
    assert result.metadata["expected_range"].value == "unit_price: 10.0 .. 30.0"


def test_columns_without_enough_history_are_not_judged():
    result = distribution_verdict(column_history({"unit_price": [20.0, 21.0, 500.0]}), "run-2")

    assert result.passed
    assert result.metadata["note"].value == "no column has 5 earlier runs yet"
