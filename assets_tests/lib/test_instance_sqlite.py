"""The Dagster instance's SQLite files flush at checkpoints, not at every event, and a run's own
event log still changes as its events are written (the webserver streams a run by watching it)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from lakehouse.lib import instance_sqlite


@dg.asset
def one() -> int:
    return 1


def test_the_shared_files_stay_open_and_a_runs_own_log_is_left_to_close(
    tmp_path: Path,
):
    instance_sqlite.flush_less()
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        run_id = dg.materialize([one], instance=instance).run_id
        runs = tmp_path / "history" / "runs"
        # the index's log outlives Dagster's connections: a kept one holds it
        assert (runs / "index.db-wal").exists()
        # the run's own log was checkpointed into its file when Dagster's last connection closed
        assert not (runs / f"{run_id}.db-wal").exists()
        assert not (runs / f"{run_id}.db-shm").exists()  # no connection kept to it
        events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        assert [e.dagster_event.asset_key for e in events] == [dg.AssetKey("one")]


def test_every_sqlite_connection_commits_without_a_flush_of_its_own(tmp_path: Path):
    instance_sqlite.flush_less()
    engine = create_engine(f"sqlite:///{tmp_path / 'any.db'}", poolclass=NullPool)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_a_runs_own_log_and_an_in_memory_database_are_not_shared_files(tmp_path: Path):
    runs = tmp_path / "history" / "runs"
    assert instance_sqlite._is_shared(str(runs / "index.db"))
    assert instance_sqlite._is_shared(str(tmp_path / "history" / "runs.db"))
    assert not instance_sqlite._is_shared(str(runs / "0b3c42f4-52d5-4b6e-9b43-41f1f2c1d6a8.db"))
    assert not instance_sqlite._is_shared("")  # SQLite names no file for an in-memory database
