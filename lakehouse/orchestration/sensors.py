"""Sensors: new settlement files in the landing zone start a run, exactly once.

The cursor remembers the newest (modification time, name) already requested, so a file is
requested once even when ticks overlap; the run key names the newest file, so Dagster drops a
duplicate request; and the raw asset skips files already committed, so a file lands once in raw.
"""

import json

import dagster as dg

from lakehouse.orchestration.jobs import PAYMENTS_PATH
from lakehouse.raw.payments import pending_files
from lakehouse.sources.landing import LandingZone
from lakehouse.storage.store import DeltaStore


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
    seen = tuple(json.loads(context.cursor)) if context.cursor else (0, "")
    arrived = sorted((f.stat().st_mtime_ns, f.name) for f in pending_files(landing, store))
    new = [marker for marker in arrived if marker > seen]
    if not new:
        return dg.SkipReason(f"no new settlement files ({len(arrived)} pending, already requested)")
    newest = new[-1]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"payments:{newest[1]}:{newest[0]}",
                tags={"lakehouse/files": ",".join(name for _, name in new)[:1000]},
            )
        ],
        cursor=json.dumps(list(newest)),
    )
