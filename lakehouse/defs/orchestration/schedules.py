"""Schedules: the daily build, and the one a declared source may ask for (built by its component)."""

import dagster as dg

from lakehouse.defs.orchestration.jobs import build_lakehouse, source_path

daily_build = dg.ScheduleDefinition(
    name="daily_build",
    job=build_lakehouse,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 06:00 UTC: extract changes, refine them, rebuild the curated days they touch.",
)


def source_schedule(name: str, raw: list[dg.AssetKey], cron: str) -> dg.ScheduleDefinition:
    """`<name>_schedule`: the source's extraction (writing the `raw` tables) and what depends on it."""
    return dg.ScheduleDefinition(
        name=f"{name}_schedule",
        target=source_path(raw),
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Extracts {name} on the schedule its declaration gives ({cron}).",
    )
