"""One wording of a freshness policy for the report and the UI."""

from datetime import timedelta

from lakehouse.lib.freshness import DAILY, describe, describe_policy


def test_the_daily_policy_is_worded_in_hours():
    assert describe_policy(DAILY) == "warn after 26 h, fail after 50 h"
    assert describe(None, timedelta(minutes=90)) == "fail after 1.5 h"
