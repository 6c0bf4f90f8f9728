"""Schedules: the daily build."""

import dagster as dg

from lakehouse.orchestration.jobs import build_lakehouse

daily_build = dg.ScheduleDefinition(
    name="daily_build",
    job=build_lakehouse,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 06:00 UTC: extract changes, refine them, rebuild the curated days they touch.",
)
