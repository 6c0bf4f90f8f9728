"""Freshness: tables fed by daily sources must have been materialised within the last day."""

from datetime import timedelta

import dagster as dg

# The daily build runs at 06:00 UTC: warn when a day was missed, fail when two were.
DAILY = dg.FreshnessPolicy.time_window(warn_window=timedelta(hours=26), fail_window=timedelta(hours=50))
