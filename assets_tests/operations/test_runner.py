"""The end-of-run summary."""

from lakehouse.operations.runner import BuildOutcome, CheckOutcome, summary
from lakehouse.settings import get_settings


def test_a_first_run_that_built_nothing_says_so_instead_of_crashing(tmp_path):
    text = summary(get_settings(tmp_path), BuildOutcome("run-1", success=False, checks=[]))
    assert "Run run-1: FAILED" in text
    assert "no tables yet" in text
    assert "Next:" not in text


def test_failed_checks_and_warnings_are_listed_apart(tmp_path):
    checks = [
        CheckOutcome("refined/orders", "unique_key", False),
        CheckOutcome("refined/orders", "key_not_null", True),
        CheckOutcome("raw/orders", "volume_anomaly", False, "WARN"),
    ]
    text = summary(get_settings(tmp_path), BuildOutcome("run-2", success=False, checks=checks))
    assert (
        "checks: 1 passed, 1 failed, 1 warnings\n    ✗ refined/orders:unique_key\n"
        "    ! raw/orders:volume_anomaly (warning)"
    ) in text
