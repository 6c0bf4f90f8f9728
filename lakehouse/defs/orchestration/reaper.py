"""Runs whose process died are marked failed within a minute, alerted, and free the queue.

A run killed mid-build (kill -9, an out-of-memory kill, a reboot) never records its end: Dagster
keeps it `STARTED`, and with one run at a time it blocks every queued run behind it. Run monitoring
cannot see it with the default run launcher (it has no worker health check: only the maximum run
time, an hour, would end it). So each run records where it runs: `lakehouse run` tags its runs
with its process id and host (`liveness_tags`), and a run the daemon launches reports its process
id in its first engine event. The `reap_dead_runs` sensor (every 30 s, in the daemon) and
`lakehouse runs reap` mark a started run failed when that process is gone from this host (or the
id now belongs to a process started after the run), with a message saying what happened; the
alert goes to the alerts file and webhook. Runs on another host are left to run monitoring.

Both (`reap`) also remove the scratch folders a killed step left (`spill.remove_abandoned`): those
whose lock no process holds. A folder in use is never touched.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psutil

from lakehouse.defs.orchestration.alerts import REAPED, Alerts
from lakehouse.lib.storage.spill import remove_abandoned
from lakehouse.lib.storage.store import DeltaStore

PID_TAG, HOST_TAG = "lakehouse/pid", "lakehouse/host"
# A process started this long after the run began is another process reusing the id.
START_SLACK_SECONDS = 2.0


def liveness_tags() -> dict[str, str]:
    """The tags naming this process as the run's, for the reaper."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


@dataclass(frozen=True)
class Reaped:
    run_id: str
    job: str
    pid: int
    message: str


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[int, str] | None:
    """The run's process id and host: its tags (`lakehouse run`), else the run worker's engine
    event (a run the daemon launched, on the daemon's host)."""
    if PID_TAG in run.tags:
        return int(run.tags[PID_TAG]), run.tags.get(HOST_TAG, "")
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event and event.engine_event_data else None
        if pid is not None:
            return int(pid.value), socket.gethostname()
    return None


def is_gone(pid: int, started: float) -> bool:
    """No process `pid` on this host, or one started after the run (`started`, a timestamp)."""
    try:
        process = psutil.Process(pid)
        return (
            process.status() == psutil.STATUS_ZOMBIE or process.create_time() > started + START_SLACK_SECONDS
        )
    except psutil.NoSuchProcess:
        return True


def dead_runs(instance: dg.DagsterInstance) -> list[tuple[dg.RunRecord, int]]:
    """Started runs on this host whose process is gone, with its id."""
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    dead = []
    for record in records:
        found = run_process(instance, record.dagster_run)
        if found is None or found[1] != socket.gethostname():
            continue
        started = record.start_time or record.create_timestamp.timestamp()
        if is_gone(found[0], started):
            dead.append((record, found[0]))
    return dead


@dataclass(frozen=True)
class Reaping:
    """What one reaping did: the dead runs marked failed, the abandoned scratch folders removed."""

    runs: list[Reaped]
    folders: list[Path]

    @property
    def removals(self) -> list[str]:
        return [f"removed the abandoned scratch folder {folder}" for folder in self.folders]


def reap(instance: dg.DagsterInstance, alerts: Alerts, scratch: Path) -> Reaping:
    """Mark the dead runs failed and alert for each (`reap_runs`), then remove the scratch folders
    under `scratch` no process holds (`spill.remove_abandoned`): what the sensor and `lakehouse runs
    reap` do."""
    return Reaping(reap_runs(instance, alerts), remove_abandoned(scratch))


def reap_runs(instance: dg.DagsterInstance, alerts: Alerts) -> list[Reaped]:
    """Mark every dead run failed (freeing its queue slot and the pool slots its steps held: the
    tables they were writing, `lakehouse.lib.pools`) and alert for each."""
    reaped = []
    for record, pid in dead_runs(instance):
        run = record.dagster_run
        message = (
            f"{REAPED}: the process of run {run.run_id} ({run.job_name}, pid {pid} on "
            f"{socket.gethostname()}) is gone (killed or crashed) while the run was STARTED; marked "
            "failed so queued runs go on. Re-run it: every write is idempotent."
        )
        instance.report_run_failed(run, message=message)
        if instance.event_log_storage.supports_global_concurrency_limits:  # its tables' pool slots
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        alerts.send(
            {
                "at": datetime.now(UTC).isoformat(),
                "kind": "run_reaped",
                "run_id": run.run_id,
                "job": run.job_name,
                "pid": pid,
                "error": message,
            }
        )
        reaped.append(Reaped(run.run_id, run.job_name, pid, message))
    return reaped


@dg.sensor(
    name="reap_dead_runs",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed (and alerts on) started runs whose process died: they would block the "
    "queue; removes the scratch folders their steps left.",
)
def reap_dead_runs(context: dg.SensorEvaluationContext, alerts: Alerts, store: DeltaStore) -> dg.SkipReason:
    reaping = reap(context.instance, alerts, store.scratch)
    for run in reaping.runs:
        context.log.error(run.message)
    for removal in reaping.removals:
        context.log.info(removal)
    return dg.SkipReason(f"reaped {len(reaping.runs)} dead run(s)" if reaping.runs else "no dead runs")
