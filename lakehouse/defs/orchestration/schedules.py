"""Schedules: the daily build, and the one a declared source may ask for (built by its component)."""

import dagster as dg

from lakehouse.defs.orchestration.jobs import build_lakehouse, source_path


def running_schedule(name: str, cron: str, description: str, **target: object) -> dg.ScheduleDefinition:
    """A schedule on UTC, running from the start (no one has to switch it on in the UI); `target` is
    `job=` or `target=`."""
    return dg.ScheduleDefinition(
        name=name,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
        **target,  # type: ignore[arg-type]
    )


daily_build = running_schedule(
    "daily_build",
    "0 6 * * *",
    "Every day at 06:00 UTC: extract changes, refine them, rebuild the curated days they touch.",
    job=build_lakehouse,
)


def source_schedule(name: str, raw: list[dg.AssetKey], cron: str) -> dg.ScheduleDefinition:
    """`<name>_schedule`: the source's extraction (writing the `raw` tables) and what depends on it."""
    return running_schedule(
        f"{name}_schedule",
        cron,
        f"Extracts {name} on the schedule its declaration gives ({cron}).",
        target=source_path(raw),
    )
