"""A code location of one asset and one sensor that asks for it once: what the deployment test
serves, so that the daemon's sensor tick, the queued run and its worker take seconds, not a build."""

import dagster as dg


@dg.asset
def probe() -> int:
    return 1


@dg.sensor(
    asset_selection=[probe],
    minimum_interval_seconds=1,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def probe_sensor() -> dg.RunRequest:
    return dg.RunRequest(run_key="once", tags={"lakehouse/probe": "sensor"})


# in process: a step subprocess would add seconds to the run, and the run's process is what is tested
defs = dg.Definitions(assets=[probe], sensors=[probe_sensor], executor=dg.in_process_executor)
