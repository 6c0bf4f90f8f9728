"""Sensors: new files of each declared file set and new clickstream micro-batches start a run,
exactly once.

A sensor looks at the *pending* files: those in the landing folder not yet committed to raw,
whatever their modification time (a late or `cp -p`'d file still counts). The run key is a
digest of that set, and the cursor remembers the last set requested: while a run is on its way
the set is unchanged and nothing more is requested (a second tick, or a second evaluation with
the same cursor, asks for the same run key, which Dagster runs once); a new file changes the set
and starts one run. The raw asset skips files already committed, so each file lands in raw once.

Before anything has landed (a fresh data folder, a declared file set whose folder is not made yet)
a sensor skips, naming the folder it waits for: it does not fail its tick.

Micro-batches are only seen under their final name (`batch-NNNN.jsonl`): a batch still being
written (`*.tmp`) is not picked up half. The clickstream sensor looks every 15 seconds, so a
batch reaches raw well within a minute of its arrival.
"""

import hashlib

import dagster as dg

from lakehouse.defs.orchestration.jobs import source_path
from lakehouse.defs.raw.events import RAW_EVENTS, pending_batches
from lakehouse.defs.raw.files import FileSet, file_versions
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.sources.landing import LandingFolderMissingError, LandingZone

_TAGGED_NAMES = 1000  # characters of file names shown in the run's tag
CLICKSTREAM_PATH = dg.AssetSelection.assets(RAW_EVENTS).downstream()
CLICKSTREAM_INTERVAL_SECONDS = 15


def pending_digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


def request_pending(
    context: dg.SensorEvaluationContext, source: str, names: list[str], nothing: str
) -> dg.SensorResult | dg.SkipReason:
    """One run for the set of pending files, unless that very set was requested already."""
    if not names:
        return dg.SkipReason(nothing)
    digest = pending_digest(names)
    if digest == context.cursor:
        return dg.SkipReason(f"{len(names)} pending file(s) already requested")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{source}:{digest}",
                tags={"lakehouse/files": ",".join(sorted(names))[:_TAGGED_NAMES]},
            )
        ],
        cursor=digest,
    )


def not_landed(missing: LandingFolderMissingError) -> dg.SkipReason:
    """The skip of a sensor whose landing folder is not there yet: nothing can be pending."""
    return dg.SkipReason(f"nothing landed yet: {missing}")


def file_set_sensor(files: FileSet, interval_seconds: int) -> dg.SensorDefinition:
    """`<name>_sensor`: one run for the new, ready files of a declared file set (built by its
    `LandingFileSet` component)."""

    @dg.sensor(
        name=f"{files.name}_sensor",
        asset_selection=source_path(files.keys),
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts a run when new {files.name} files are ready in landing/{files.source.location}.",
    )
    def sensor(
        context: dg.SensorEvaluationContext, landing: LandingZone, store: DeltaStore
    ) -> dg.SensorResult | dg.SkipReason:
        # the version's batch id names it: a re-sent file with new content is a new set, a new run
        try:
            versions = file_versions(files, landing, store)
        except LandingFolderMissingError as missing:
            return not_landed(missing)
        names = [f.batch_id.rsplit("/", 1)[-1] for f in versions if not f.registered_only]
        return request_pending(context, files.name, names, f"no new {files.name} files")

    return sensor


@dg.sensor(
    name="clickstream_sensor",
    asset_selection=CLICKSTREAM_PATH,
    minimum_interval_seconds=CLICKSTREAM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Appends new clickstream micro-batches to raw (and refines them) within a minute.",
)
def clickstream_sensor(
    context: dg.SensorEvaluationContext, landing: LandingZone, store: DeltaStore
) -> dg.SensorResult | dg.SkipReason:
    try:
        names = [f"{path.parent.name}/{path.name}" for path in pending_batches(landing, store)]
    except LandingFolderMissingError as missing:
        return not_landed(missing)
    return request_pending(context, "clickstream", names, "no new clickstream batches")
