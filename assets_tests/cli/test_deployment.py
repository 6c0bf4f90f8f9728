"""The production profile on a real PostgreSQL server: its instance (deploy/production/dagster.yaml)
keeps runs, events and sensor ticks there, and `lakehouse deployment serve` runs the daemon and the
webserver on it; a database that is down stops a command before it does anything."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets_tests.cli.conftest import invoker
from assets_tests.operations.test_deployment import instance_url
from assets_tests.postgres_server import PASSWORD, PostgresServer
from lakehouse.cli.instance import open_instance
from lakehouse.settings import PROJECT_ROOT

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
PRODUCTION_YAML = PROJECT_ROOT / "deploy" / "production" / "dagster.yaml"


@dg.asset
def answer() -> int:
    return 42


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _production_environment(monkeypatch: pytest.MonkeyPatch, url: str) -> dict[str, str]:
    variables = {
        "LAKEHOUSE_PROFILE": "production",
        "LAKEHOUSE_DAGSTER_PG_URL": url,
        "LAKEHOUSE_PII_KEY": "a-production-key",
        "LAKEHOUSE_ERASURE_KEY": "another-production-key",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


def _count(url: str, table: str) -> int:
    import adbc_driver_postgresql.dbapi as postgresql  # only here: 0.5 s a collecting process

    with postgresql.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


@pytest.fixture
def production_home(tmp_path: Path) -> Path:
    """The shipped production dagster.yaml, in a folder of the test's own (what it writes stays there)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    return home


def test_the_production_instance_records_runs_in_postgresql(
    postgres_server: PostgresServer, production_home: Path, monkeypatch: pytest.MonkeyPatch
):
    """With the password in PGPASSWORD, not in the URL: libpq reads it for Dagster."""
    url = postgres_server.create_database("dagster_instance_runs")
    _production_environment(monkeypatch, instance_url(url).replace(f":{PASSWORD}@", "@"))
    monkeypatch.setenv("PGPASSWORD", PASSWORD)

    with open_instance(production_home) as instance:
        run_id = dg.materialize([answer], instance=instance).run_id
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config.max_concurrent_runs == 4  # every table's writer in a pool
        assert concurrency.pool_config.default_pool_limit == 1  # one writer per table

    assert _count(url, "runs") == 1
    assert _count(url, f"event_logs WHERE run_id = '{run_id}'") > 0
    assert not list(production_home.rglob("*.db"))  # no SQLite anywhere


def test_a_database_that_is_down_stops_run_dev_and_serve_before_they_do_anything(
    production_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    port = _free_port()
    _production_environment(monkeypatch, f"postgresql+psycopg2://dagster:{PASSWORD}@127.0.0.1:{port}/dagster")
    data = tmp_path / "data"
    cli = invoker("--data-dir", str(data), "--dagster-home", str(production_home))

    for args in (("run", "--scale", "0.001"), ("dev",), ("deployment", "serve", "daemon")):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert result.output.startswith(
            "Error: the Dagster instance database (PostgreSQL) at "
            f"postgresql+psycopg2://dagster:***@127.0.0.1:{port}/"
        )
        assert PASSWORD not in result.output
    assert not data.exists()


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["data"]


RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"


def _sensor_runs(port: int) -> list[dict]:
    try:
        runs = _graphql(port, RUNS)["runsOrError"]["results"]
    except OSError:
        return []  # the webserver is still starting
    return [run for run in runs if {"key": "lakehouse/probe", "value": "sensor"} in run["tags"]]


@pytest.fixture
def services(
    postgres_server: PostgresServer, production_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[int, str, list[Path], list[subprocess.Popen[bytes]]]]:
    """The daemon and the webserver of the production profile, started as a platform engineer would
    (`lakehouse deployment serve`), on the sensor location; stopped whole at the end."""
    url = postgres_server.create_database("dagster_instance_services")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: assets_tests.cli.sensor_location\n"
        f"      working_directory: {PROJECT_ROOT}\n      location_name: probe\n"
    )
    environment = {
        **os.environ,
        **_production_environment(monkeypatch, instance_url(url)),
        "DAGSTER_HOME": str(production_home),
    }
    port = _free_port()
    logs = [tmp_path / "daemon.log", tmp_path / "webserver.log"]
    commands = [
        [LAKEHOUSE, "deployment", "serve", "daemon", "--workspace", str(workspace)],
        [LAKEHOUSE, "deployment", "serve", "webserver", "--port", str(port), "--workspace", str(workspace)],
    ]
    processes = [
        subprocess.Popen(
            command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=environment, process_group=0
        )
        for command, log in zip(commands, logs, strict=True)
    ]
    try:
        yield port, url, logs, processes
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
            finally:
                _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Whatever of the service's process group is left (a code server it started) is killed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.e2e  # the daemon and the webserver in fresh processes
def test_the_daemon_runs_a_sensor_request_and_the_webserver_shows_it_from_postgresql(
    services: tuple[int, str, list[Path], list[subprocess.Popen[bytes]]], production_home: Path
):
    port, url, logs, processes = services
    deadline = time.monotonic() + 180  # a hang guard: ~15-45 s here, more on a loaded machine
    while not [run for run in _sensor_runs(port) if run["status"] == "SUCCESS"]:
        alive = all(process.poll() is None for process in processes)
        assert alive and time.monotonic() < deadline, "no successful sensor run:\n" + "\n".join(
            log.read_text()[-3000:] for log in logs
        )
        time.sleep(0.5)

    (run,) = _sensor_runs(port)  # asked once (its run key), run once
    assert _count(url, f"runs WHERE run_id = '{run['runId']}' AND status = 'SUCCESS'") == 1
    assert _count(url, "job_ticks WHERE type = 'SENSOR' AND status = 'SUCCESS'") >= 1  # the tick that asked
    assert not list(production_home.rglob("*.db"))
    assert all(PASSWORD not in log.read_text() for log in logs)
