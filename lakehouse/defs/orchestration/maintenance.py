"""The weekly maintenance job: compact and vacuum every table, then republish the catalog."""

import dagster as dg

from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.maintenance import maintain
from lakehouse.serving.catalog import publish_catalog


@dg.op(
    required_resource_keys={"io_manager", "serving_catalog"},
    description="Compact small files and vacuum files unreferenced for a week, in every table.",
)
def maintain_tables(context: dg.OpExecutionContext) -> dg.Output[None]:
    io_manager: DeltaIOManager = context.resources.io_manager  # it knows the tables
    results = maintain(io_manager.store.root)
    publish_catalog(io_manager.store.root, context.resources.serving_catalog)
    return dg.Output(
        None,
        metadata={
            "tables": len(results),
            "files_compacted": sum(r.files_compacted for r in results),
            "files_vacuumed": sum(r.files_vacuumed for r in results),
        },
    )


@dg.job(description="Table maintenance: compaction and vacuum (audited).")
def maintain_lakehouse() -> None:
    maintain_tables()


weekly_maintenance = dg.ScheduleDefinition(
    name="weekly_maintenance",
    job=maintain_lakehouse,
    cron_schedule="0 3 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sundays at 03:00 UTC: compact and vacuum every table.",
)
