"""Schedules: the daily build, and those declared for file sets in `sources.yaml`."""

import dagster as dg

from lakehouse.orchestration.jobs import build_lakehouse, file_set_path
from lakehouse.raw.files import FILE_SETS

daily_build = dg.ScheduleDefinition(
    name="daily_build",
    job=build_lakehouse,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 06:00 UTC: extract changes, refine them, rebuild the curated days they touch.",
)

file_set_schedules = [
    dg.ScheduleDefinition(
        name=f"{files.name}_schedule",
        target=file_set_path(files),
        cron_schedule=files.source.schedule,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Ingests new {files.name} files on the schedule declared in sources.yaml.",
    )
    for files in FILE_SETS.values()
    if files.source.schedule
]
