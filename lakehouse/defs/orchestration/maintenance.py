"""The weekly maintenance: compact every table and enforce the retention policies (expire rows and
landing files, vacuum history), remove the scratch folders of steps killed mid-way, then republish
the catalog; and a full check of every table (the builds' checks judge only what each run wrote)."""

from collections.abc import Sequence

import dagster as dg

from lakehouse.defs.orchestration.retention import RETENTION_POLICIES
from lakehouse.defs.orchestration.schedules import running_schedule
from lakehouse.lib.quality.checks import FULL, FULL_CHECK_TAG
from lakehouse.lib.storage import expiry, landing_expiry
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.maintenance import maintain
from lakehouse.lib.storage.spill import remove_abandoned
from lakehouse.serving.catalog import publish_catalog


@dg.op(
    required_resource_keys={"io_manager", "serving_catalog", "landing"},
    description="Compact small files, expire rows and landing files past their retention, vacuum "
    "history: every table; remove abandoned scratch folders.",
)
def maintain_tables(context: dg.OpExecutionContext) -> dg.Output[None]:
    io_manager: DeltaIOManager = context.resources.io_manager  # it knows the tables
    root = io_manager.store.root
    results = maintain(root, RETENTION_POLICIES, run_id=context.run_id)
    for r in results:
        if r.retention.rows:  # quarantined records reported as they go, held rows with the reason
            context.log.warning(r.retention.describe(dry_run=False))
    days, landing_root = RETENTION_POLICIES.landing_days, context.resources.landing.root
    landing = landing_expiry.expire(landing_root, root, days, run_id=context.run_id)
    for folder in landing:
        if folder.files or folder.held:
            context.log.info(folder.describe(dry_run=False))
    scratch = remove_abandoned(io_manager.store.scratch)
    publish_catalog(io_manager.store.root, context.resources.serving_catalog)
    totals = expiry.summary([r.retention for r in results])
    return dg.Output(
        None,
        metadata={
            "tables": len(results),
            "files_compacted": sum(r.files_compacted for r in results),
            "files_vacuumed": totals["files"],
            "rows_expired": totals["rows"],
            "records_expired_with_them": totals["records"],
            "tables_held": totals["held"],
            "landing_files_expired": sum(f.files for f in landing),
            "scratch_folders_removed": len(scratch),
        },
    )


@dg.job(description="Table maintenance: compaction and retention (expired rows, vacuum), audited.")
def maintain_lakehouse() -> None:
    maintain_tables()


weekly_maintenance = running_schedule(
    "weekly_maintenance",
    "0 3 * * 0",
    "Sundays at 03:00 UTC: compact every table, expire rows and history past their retention.",
    job=maintain_lakehouse,
)


def full_checks(checks: Sequence[dg.AssetChecksDefinition]) -> dg.Definitions:
    """The `full_checks` job over the standalone `checks` (an asset's own checks, such as `contract`,
    run with its materialisation), and its weekly schedule. Built with the definitions, which
    know every check, rather than found in this module by the defs loader."""
    job = dg.define_asset_job(
        "full_checks",
        selection=dg.AssetSelection.checks(*(key for c in checks for key in c.check_keys)),
        tags={FULL_CHECK_TAG: FULL},
        description=(
            "Every asset check over whole tables: a build's checks judge only the rows it wrote (keys "
            "and foreign keys of the written slices, the batch's reconciliation); this judges all."
        ),
    )
    schedule = running_schedule(
        "weekly_full_checks",
        "0 4 * * 0",
        "Sundays at 04:00 UTC, after the maintenance: every check over whole tables.",
        job=job,
    )
    return dg.Definitions(jobs=[job], schedules=[schedule])
