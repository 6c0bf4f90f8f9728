"""Freshness: tables fed by daily sources must have been materialised within the last day.

`describe` words a policy once, for every place that shows it: the quality report and the assets'
`freshness` metadata entry in the UI (whose own badge rounds 50 h to "2 days").
"""

from datetime import timedelta

import dagster as dg

# The daily build runs at 06:00 UTC: warn when a day was missed, fail when two were.
DAILY = dg.FreshnessPolicy.time_window(warn_window=timedelta(hours=26), fail_window=timedelta(hours=50))


def describe(warn_after: timedelta | None, fail_after: timedelta) -> str:
    """`warn after 26 h, fail after 50 h`: the windows of a time-window policy, in whole hours."""
    fail = f"fail after {_hours(fail_after)} h"
    return fail if warn_after is None else f"warn after {_hours(warn_after)} h, {fail}"


def describe_policy(policy: dg.FreshnessPolicy) -> str:
    """`describe` of a time-window policy (Dagster keeps its windows as serializable durations)."""
    warn, fail = policy.warn_window, policy.fail_window  # type: ignore[attr-defined]
    return describe(warn and warn.to_timedelta(), fail.to_timedelta())


def _hours(window: timedelta) -> str:
    return f"{window.total_seconds() / 3600:g}"
