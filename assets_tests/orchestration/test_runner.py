"""The end-of-run summary."""

from lakehouse.orchestration.runner import BuildOutcome, CheckOutcome, summary
from lakehouse.settings import get_settings


def test_a_first_run_that_built_nothing_says_so_instead_of_crashing(tmp_path):
    text = summary(get_settings(tmp_path), BuildOutcome("run-1", success=False, checks=[]))
    assert "Run run-1: FAILED" in text
    assert "no tables yet" in text
    assert "Next:" not in text


def test_failed_checks_are_listed(tmp_path):
    checks = [
        CheckOutcome("refined/orders", "unique_key", False),
        CheckOutcome("refined/orders", "key_not_null", True),
    ]
    text = summary(get_settings(tmp_path), BuildOutcome("run-2", success=False, checks=checks))
    assert "checks: 1 passed, 1 failed\n    ✗ refined/orders:unique_key" in text
