"""Schedules: the daily build, and those declared for sources in `sources.yaml`."""

import dagster as dg

from lakehouse.defs.orchestration.jobs import build_lakehouse, source_path
from lakehouse.defs.raw.files import FileSet
from lakehouse.sources.declared import Declarations, FileSource, Source, declarations

daily_build = dg.ScheduleDefinition(
    name="daily_build",
    job=build_lakehouse,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 06:00 UTC: extract changes, refine them, rebuild the curated days they touch.",
)


def _raw_keys(name: str, source: Source) -> list[dg.AssetKey]:
    """The tables a source's extraction writes."""
    return FileSet(name, source).keys if isinstance(source, FileSource) else [dg.AssetKey(["raw", name])]


def declared_schedules(declared: Declarations) -> list[dg.ScheduleDefinition]:
    """`<name>_schedule` for each source that declares a cron `schedule`: its raw table and downstream."""
    return [
        dg.ScheduleDefinition(
            name=f"{name}_schedule",
            target=source_path(_raw_keys(name, source)),
            cron_schedule=source.schedule,
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description=f"Extracts {name} on the schedule declared in sources.yaml ({source.schedule}).",
        )
        for name, source in declared.sources().items()
        if source.schedule
    ]


source_schedules = declared_schedules(declarations())
