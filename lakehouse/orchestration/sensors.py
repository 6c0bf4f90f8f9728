"""Sensors: new settlement files in the landing zone start a run, exactly once.

The sensor looks at the *pending* files: those in the landing folder not yet committed to raw,
whatever their modification time (a late or `cp -p`'d file still counts). The run key is a
digest of that set, and the cursor remembers the last set requested: while a run is on its way
the set is unchanged and nothing more is requested; a new file changes the set and starts one
run. The raw asset skips files already committed, so each file lands in raw once.
"""

import hashlib

import dagster as dg

from lakehouse.orchestration.jobs import PAYMENTS_PATH
from lakehouse.raw.payments import pending_files
from lakehouse.sources.landing import LandingZone
from lakehouse.storage.store import DeltaStore

_TAGGED_NAMES = 1000  # characters of file names shown in the run's tag


def pending_digest(names: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


@dg.sensor(
    name="payments_landing_sensor",
    asset_selection=PAYMENTS_PATH,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a payments run when new settlement files land.",
)
def payments_landing_sensor(
    context: dg.SensorEvaluationContext, landing: LandingZone, store: DeltaStore
) -> dg.SensorResult | dg.SkipReason:
    names = [path.name for path in pending_files(landing, store)]
    if not names:
        return dg.SkipReason("no new settlement files")
    digest = pending_digest(names)
    if digest == context.cursor:
        return dg.SkipReason(f"{len(names)} pending file(s) already requested")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"payments:{digest}",
                tags={"lakehouse/files": ",".join(sorted(names))[:_TAGGED_NAMES]},
            )
        ],
        cursor=digest,
    )
