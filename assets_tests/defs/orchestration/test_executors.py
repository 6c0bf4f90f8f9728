"""A backfill whose steps run on a real Dask cluster of two worker processes (`LocalCluster`), launched
as the daemon launches a run (`execute_job` of the reconstructable build job) in a real instance
with the project's pools; then a worker killed in the middle of a step, and the run again."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from assets_tests.conftest import Lakehouse, copy_of_build
from lakehouse import definitions
from lakehouse.cli.instance import open_instance
from lakehouse.defs.orchestration.executors import run_executor
from lakehouse.lib.partitions import range_tags
from lakehouse.settings import PROJECT_ROOT, get_settings

FIRST, LAST = date(2025, 1, 5), date(2025, 1, 12)
FACT, FACT_STEP = dg.AssetKey(["curated", "fact_order_items"]), "curated__fact_order_items"
MART, MART_STEP = dg.AssetKey(["curated", "mart_daily_sales"]), "curated__mart_daily_sales"  # pooled
HELD_AFTER_FACT = 4.0  # seconds another run keeps the mart's slot after the fact step succeeded


@dataclass(frozen=True)
class DaskBackfill:
    lakehouse: Lakehouse
    result: dg.JobExecutionResult
    events: list[dg.EventLogEntry]
    worker_pids: set[int]
    released_at: float  # when the other run freed the mart's slot (after the fact step succeeded)
    pool_after: object  # the mart pool's concurrency info after the run
    killed: KilledWorker


@dataclass(frozen=True)
class KilledWorker:
    """The mart rebuilt again, its worker killed mid-step; then the same run once more."""

    pid: int  # the worker process killed while its step read the fact
    failed: dg.JobExecutionResult
    error: str  # the failed run's error, as the run's events record it
    versions: tuple[int, int]  # the mart's Delta version before the killed run and after it
    marts: tuple[pl.DataFrame, pl.DataFrame]  # the mart's rows before the kill and after the re-run
    rerun: dg.JobExecutionResult
    pool_after: object


def days_of(lakehouse: Lakehouse) -> pl.DataFrame:
    fact = pl.read_delta(str(lakehouse.settings.tables_dir / "curated" / "fact_order_items"))
    return fact.group_by("order_date").len().sort("order_date")


def hold_mart_slot_until_the_fact_is_built(home: Path, released: list[float]) -> None:
    """As another run's step would: hold the mart's one slot until the backfill's fact step has
    succeeded, and a while more, so that the mart's step, ready then, must wait for it."""
    with open_instance(home) as dagster:
        storage = dagster.event_log_storage
        storage.set_concurrency_slots(MART.to_user_string(), 1)
        storage.claim_concurrency_slot(MART.to_user_string(), "another-run", "its-step")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(
            e.event_log_entry.step_key == FACT_STEP
            for run in dagster.get_run_records()
            for e in dagster.get_records_for_run(
                run.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS
            ).records
        ):
            time.sleep(0.2)
        time.sleep(HELD_AFTER_FACT)
        released.append(time.time())
        storage.free_concurrency_slot_for_step("another-run", "its-step")


def hang_reads_of(table: Path) -> Callable[[], None]:
    """Every data file of `table` replaced by a named pipe, so that a step reading it hangs in the
    middle (as on a stalled disk or network share) until its process dies; returns the undo."""
    files = [Path(uri.removeprefix("file://")) for uri in DeltaTable(str(table)).file_uris()]
    for file in files:
        file.rename(file.with_name(file.name + ".held"))
        os.mkfifo(file)

    def restore() -> None:
        for file in files:
            file.unlink()
            file.with_name(file.name + ".held").rename(file)

    return restore


def kill_the_worker_of(home: Path, step_key: str, killed: list[int], restore: Callable[[], None]) -> None:
    """Once `step_key` has started in a run of `home`, kill the worker process that runs it; then
    let reads through again (so that nothing waits forever, whatever happens next)."""
    with open_instance(home) as dagster:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            for run in dagster.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
                records = dagster.get_records_for_run(
                    run.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_START
                ).records
                started = [r.event_log_entry for r in records if r.event_log_entry.step_key == step_key]
                if started:
                    killed.append(started[0].dagster_event.pid)
                    os.kill(killed[0], signal.SIGKILL)
            time.sleep(0.2)
    restore()


def run_error(dagster: dg.DagsterInstance, run_id: str) -> str:
    """The error messages the run's events hold (the run's failure and the engine's)."""
    messages = []
    for record in dagster.get_records_for_run(run_id).records:
        error = getattr(record.event_log_entry.dagster_event, "event_specific_data", None)
        error = getattr(error, "error", None)
        if error is not None:
            messages.append(error.message)
    return "\n".join(messages)


def kill_a_worker_mid_step(lakehouse: Lakehouse, home: Path, dagster: dg.DagsterInstance) -> KilledWorker:
    """The mart's days again, its worker killed while the step reads the fact; then once more."""
    mart = lakehouse.settings.tables_dir / "curated" / "mart_daily_sales"
    before, version = pl.read_delta(str(mart)), DeltaTable(str(mart)).version()
    job, killed = dg.reconstructable(definitions.build_job), []
    restore = hang_reads_of(lakehouse.settings.tables_dir / "curated" / "fact_order_items")
    saboteur = threading.Thread(target=kill_the_worker_of, args=(home, MART_STEP, killed, restore))
    saboteur.start()
    failed = dg.execute_job(
        job, dagster, asset_selection=[MART], tags=range_tags(FIRST, LAST), raise_on_error=False
    )
    saboteur.join()
    after_kill = DeltaTable(str(mart)).version()
    rerun = dg.execute_job(job, dagster, asset_selection=[MART], tags=range_tags(FIRST, LAST))
    return KilledWorker(
        pid=killed[0],
        failed=failed,
        error=run_error(dagster, failed.run_id),
        versions=(version, after_kill),
        marts=(before, pl.read_delta(str(mart))),
        rerun=rerun,
        pool_after=dagster.event_log_storage.get_concurrency_info(MART.to_user_string()),
    )


@pytest.fixture(scope="module")
def dask_backfill(
    tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance
) -> Iterator[tuple[DaskBackfill, dict]]:
    from distributed import Client, LocalCluster  # only here: 0.5 s a collecting process

    root = tmp_path_factory.mktemp("dask")
    lakehouse = copy_of_build(root / "data", instance, scale=0.01, seed=42, days=30)
    before = days_of(lakehouse)
    home = root / "home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LAKEHOUSE_DATA_DIR", str(lakehouse.settings.data_dir))  # the workers' too
        env.setenv("LAKEHOUSE_EXECUTOR", "dask")
        with (
            LocalCluster(
                n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
            open_instance(home) as dagster,
        ):
            env.setenv("LAKEHOUSE_DASK_SCHEDULER", cluster.scheduler_address)
            definitions.default_definitions.cache_clear()  # this process builds them with Dask now
            released: list[float] = []
            holder = threading.Thread(target=hold_mart_slot_until_the_fact_is_built, args=(home, released))
            holder.start()
            result = dg.execute_job(
                dg.reconstructable(definitions.build_job),
                dagster,
                asset_selection=[FACT, MART],
                tags=range_tags(FIRST, LAST),
                raise_on_error=False,
            )
            holder.join()
            events = [r.event_log_entry for r in dagster.get_records_for_run(result.run_id).records]
            pids = set(client.run(os.getpid).values())
            pool_after = dagster.event_log_storage.get_concurrency_info(MART.to_user_string())
            killed = kill_a_worker_mid_step(lakehouse, home, dagster)
        definitions.default_definitions.cache_clear()
    yield DaskBackfill(lakehouse, result, events, pids, released[0], pool_after, killed), before


def test_the_executor_is_chosen_by_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert run_executor(get_settings(tmp_path)) is dg.in_process_executor
    monkeypatch.setenv("LAKEHOUSE_EXECUTOR", "multiprocess")
    assert run_executor(get_settings(tmp_path)) is dg.multiprocess_executor
    monkeypatch.setenv("LAKEHOUSE_EXECUTOR", "dask")
    monkeypatch.setenv("LAKEHOUSE_DASK_SCHEDULER", "tcp://scheduler.internal:8786")
    dask = run_executor(get_settings(tmp_path))
    assert (dask.name, dask.config_schema.resolve_config({}).value["config"]) == (
        "dask",
        {"scheduler": "tcp://scheduler.internal:8786", "n_workers": 2},
    )
    monkeypatch.setenv("LAKEHOUSE_EXECUTOR", "spark")
    with pytest.raises(
        ValueError, match="LAKEHOUSE_EXECUTOR='spark': use one of in_process, multiprocess, dask"
    ):
        get_settings(tmp_path)


def test_a_backfill_runs_its_steps_on_the_dask_workers_each_bounded_by_its_days(dask_backfill):
    backfill, before = dask_backfill
    assert backfill.result.success
    started = [e for e in backfill.events if e.dagster_event_type == dg.DagsterEventType.STEP_START]
    # on the cluster's workers, no other process (which worker takes a step is Dask's choice: the
    # steps wait for one another, so all may go to the one that finished first)
    assert {e.dagster_event.pid for e in started} <= backfill.worker_pids
    assert len(backfill.worker_pids) == 2 and started
    days = {(FIRST + timedelta(days=n)).isoformat() for n in range((LAST - FIRST).days + 1)}
    materialized = {
        e.asset_materialization.partition
        for e in backfill.events
        if e.asset_materialization and e.asset_materialization.asset_key == FACT
    }
    assert materialized == days  # the step rebuilt exactly the backfill's days
    assert days_of(backfill.lakehouse).equals(before)  # every day's lines, none lost or doubled


def test_a_dask_step_waits_for_its_pool_slot_and_frees_it(dask_backfill):
    backfill, _ = dask_backfill
    mart_started = next(
        e.timestamp
        for e in backfill.events
        if e.dagster_event_type == dg.DagsterEventType.STEP_START
        and e.step_key == "curated__mart_daily_sales"
    )
    assert mart_started >= backfill.released_at  # ready seconds before, it waited for the other run
    assert (backfill.pool_after.slot_count, backfill.pool_after.claimed_slots) == (1, [])


def test_a_worker_killed_mid_step_fails_the_run_naming_the_worker_and_changes_no_table(dask_backfill):
    killed = dask_backfill[0].killed
    assert not killed.failed.success
    assert (
        f"(pid {killed.pid}) died while it ran step {MART_STEP} of run {killed.failed.run_id}, so the run "
        "failed. The step's table is unchanged"
    ) in killed.error
    assert "Dask worker tcp://127.0.0.1:" in killed.error and "Check that worker's log" in killed.error
    before, after_kill = killed.versions
    assert after_kill == before  # no commit, whole or partial


def test_the_run_again_after_a_killed_worker_completes_with_nothing_lost_or_doubled(dask_backfill):
    killed = dask_backfill[0].killed
    assert killed.rerun.success
    assert {e.asset_key for e in killed.rerun.get_asset_materialization_events()} == {MART}
    sales_before, sales_after = killed.marts
    assert sales_after.sort(sales_after.columns).equals(sales_before.sort(sales_before.columns))
    assert (killed.pool_after.slot_count, killed.pool_after.claimed_slots) == (1, [])  # the dead step's freed
