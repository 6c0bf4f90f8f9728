"""The project's Dagster instance, opened from its folder whatever the working directory."""

import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from assets_tests.cli.conftest import INSTANCE_CONFIG
from lakehouse.cli.instance import anchored, open_instance
from lakehouse.settings import PROJECT_ROOT

HOMES = 5  # brand-new instances both processes open at the same moment: without the lock, about
# one in three such pairs fails, so five pairs nearly always show it
OPEN_NEW_HOMES = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    from lakehouse.cli.instance import open_instance

    root, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    for n in range({homes}):
        (root / f"ready-{{n}}-{{me}}").touch()
        deadline = time.monotonic() + 60  # the other process failed: stop waiting for it
        while not (root / f"ready-{{n}}-{{other}}").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        with open_instance(root / f"home-{{n}}") as instance:
            instance.get_run_records()
    """
).format(homes=HOMES)


@dg.asset
def answer() -> int:
    return 42


def test_the_instance_records_runs_under_its_folder_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    monkeypatch.chdir(elsewhere)

    with open_instance(home) as instance:
        run_id = dg.materialize([answer], instance=instance).run_id
    with open_instance(home) as instance:
        assert [r.dagster_run.run_id for r in instance.get_run_records()] == [run_id]

    assert (home / "data" / "dagster" / "storage" / "history" / "runs.db").is_file()
    assert sorted(path.name for path in home.iterdir()) == ["dagster.yaml", "data"]
    assert list(elsewhere.iterdir()) == []


def test_only_relative_folders_are_anchored(tmp_path: Path):
    config = {
        "storage": {"sqlite": {"base_dir": "data/dagster/storage"}},
        "compute_logs": {"config": {"base_dir": "/var/logs"}},
        "local_artifact_storage": {"config": {"base_dir": {"env": "ARTIFACTS"}}},
        "run_queue": {"max_concurrent_runs": 1},
    }
    assert anchored(config, tmp_path) == {
        "storage": {"sqlite": {"base_dir": str(tmp_path / "data/dagster/storage")}},
        "compute_logs": {"config": {"base_dir": "/var/logs"}},
        "local_artifact_storage": {"config": {"base_dir": {"env": "ARTIFACTS"}}},
        "run_queue": {"max_concurrent_runs": 1},
    }


def test_the_project_instance_monitors_runs_and_fails_dead_ones():
    """Runs that never start or finish cancelling, or still run after an hour (a dead process), are
    marked failed by the daemon (issue 13: killed runs stayed STARTED and filled the one-run queue)."""
    with open_instance(PROJECT_ROOT) as project:
        assert project.run_monitoring_enabled
        assert project.run_monitoring_start_timeout_seconds == 180
        assert project.run_monitoring_cancel_timeout_seconds == 180
        assert project.run_monitoring_max_resume_run_attempts == 0
        assert project.run_monitoring_max_runtime_seconds == 3600  # catches a run whose process died


@pytest.mark.e2e  # two fresh processes, each importing the lakehouse (~3 s of CPU each)
def test_two_processes_opening_one_brand_new_instance_at_once_both_succeed(tmp_path: Path):
    for n in range(HOMES):
        (tmp_path / f"home-{n}").mkdir()
        (tmp_path / f"home-{n}" / "dagster.yaml").write_text(INSTANCE_CONFIG)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_NEW_HOMES, str(tmp_path), me, other],
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], errors
    for n in range(HOMES):
        with open_instance(tmp_path / f"home-{n}") as instance:
            assert instance.get_run_records() == []
