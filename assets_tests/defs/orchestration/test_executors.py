"""A backfill whose steps run on a real Dask cluster of two worker processes (`LocalCluster`), launched
as the daemon launches a run (`execute_job` of the reconstructable build job) in a real instance
with the project's pools."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from distributed import Client, LocalCluster

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


@pytest.fixture(scope="module")
def dask_backfill(
    tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance
) -> Iterator[tuple[DaskBackfill, dict]]:
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
        definitions.default_definitions.cache_clear()
    yield DaskBackfill(lakehouse, result, events, pids, released[0], pool_after), before


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
