"""A run whose process is killed is reaped: marked failed (freeing the queue) and alerted, not left
STARTED for ever, and the scratch folder its step was spilling to removed. The run is real:
`run_build` (what `lakehouse run` calls) in its own process, recorded in an instance on disk,
killed with SIGKILL mid-step."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets_tests.cli.conftest import INSTANCE_CONFIG, invoker
from lakehouse.cli.instance import open_instance
from lakehouse.defs.orchestration.alerts import Alerts, run_failure_alert_sensor
from lakehouse.defs.orchestration.reaper import PID_TAG, reap_dead_runs
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.settings import get_settings

# A build whose one asset spills to a scratch folder, marks that it started, then works for two
# minutes: killed long before.
RUN = """
import sys, time
from pathlib import Path
import dagster as dg
from lakehouse.cli.instance import open_instance
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.operations.runner import run_build
from lakehouse.settings import get_settings

@dg.asset
def slow_table(store: DeltaStore) -> None:
    with store.scratch_folder("extract-slow_table-") as folder:
        (folder / "000000.parquet").write_bytes(b"rows")
        Path(sys.argv[2]).write_text("started")
        time.sleep(120)

store = DeltaStore.from_settings(get_settings(Path(sys.argv[1]) / "data"))
definitions = dg.Definitions(
    assets=[slow_table], jobs=[dg.define_asset_job("build_lakehouse")], resources={"store": store}
)
with open_instance(Path(sys.argv[1])) as instance:
    run_build(definitions, instance, echo=print)
"""


def started_run(instance: dg.DagsterInstance, marker: Path, process: subprocess.Popen) -> dg.RunRecord:
    """The run once its step is under way (within a minute)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        if records and marker.exists():
            return records[0]
        time.sleep(0.2)
    raise AssertionError(f"the run did not start (exit code {process.poll()})")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "dagster.yaml").write_text(INSTANCE_CONFIG)
    yield tmp_path


@pytest.mark.e2e  # a build in a fresh process
def test_a_killed_run_is_marked_failed_and_alerted_not_left_started(home: Path):
    marker, alerts_file = home / "started", home / "data" / "alerts" / "alerts.jsonl"
    alerts = Alerts(alerts_path=str(alerts_file))
    store = DeltaStore.from_settings(get_settings(home / "data"))
    process = subprocess.Popen([sys.executable, "-c", RUN, str(home), str(marker)])
    with open_instance(home) as instance:
        try:
            record = started_run(instance, marker, process)
            assert record.dagster_run.tags[PID_TAG] == str(process.pid)
            (spilling,) = store.scratch.iterdir()
            alive = reap_dead_runs(dg.build_sensor_context(instance=instance), alerts=alerts, store=store)
            assert alive.skip_message == "no dead runs"  # its process is alive: left alone
            assert list(store.scratch.iterdir()) == [spilling]  # its scratch folder too
            assert spilling.name.startswith("extract-slow_table-")
        finally:
            process.kill()
            process.wait()
        run_id = record.dagster_run.run_id
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # what Dagster leaves

        reaped = invoker("--data-dir", str(home / "data"), "--dagster-home", str(home))("runs", "reap")

        lines = reaped.output.splitlines()
        assert lines[0].startswith(
            f"Reaped: the process of run {run_id} (build_lakehouse, pid {process.pid} on "
        )
        assert lines[1:] == [
            f"removed the abandoned scratch folder {spilling}",
            f"reaped 1 dead run(s); alerts in {alerts_file}",
        ]
        assert list(store.scratch.iterdir()) == []
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE  # the queue moves on
        (alert,) = [json.loads(line) for line in alerts_file.read_text().splitlines()]
        assert (alert["kind"], alert["run_id"], alert["pid"]) == ("run_reaped", run_id, process.pid)
        again = reap_dead_runs(dg.build_sensor_context(instance=instance), alerts=alerts, store=store)
        assert again.skip_message == "no dead runs"
        # The failure sensor does not alert twice: the reaper said what happened.
        failure = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0].dagster_event
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor",
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(run_id),
            dagster_event=failure,
        ).for_run_failure()
        run_failure_alert_sensor(context, alerts=alerts)
        assert len(alerts_file.read_text().splitlines()) == 1
