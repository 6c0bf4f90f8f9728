"""Runs in parallel, safely: two real processes build one lakehouse at the same time through one real
Dagster instance (the project's `dagster.yaml`: a pool of one slot per table).

Each run extracts `raw/orders` (after a new day of source data) and rebuilds one day of
`curated/fact_order_items` (two days of one month: one Delta file holds both). The processes start
their runs together, and each fact step waits for the other before committing, so both replace
their day from the same table version: one loses delta-rs' race and must commit again.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from assets_tests.conftest import Lakehouse, copy_of_build
from lakehouse.cli.instance import open_instance
from lakehouse.lib.storage.delta_tables import REPLACED_SLICES_COMMIT_KEY
from lakehouse.settings import PROJECT_ROOT

DAYS = ("2025-01-10", "2025-01-20")
ORDERS_STEP = "raw__orders"

# One run of `raw/orders` and one day of the order-line fact, as `lakehouse backfill` runs it (in
# process, in the instance of DAGSTER_HOME). It starts when both processes are ready, and its fact
# commit waits until the other's fact step is ready to commit too; it prints its run and commits.
RUN_ONE_DAY = textwrap.dedent(
    """
    import json, os, sys, time
    from datetime import date
    from pathlib import Path

    from lakehouse.lib.storage import delta_tables

    day, me, other, barrier = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    write, commits = delta_tables.write_deltalake, []

    def meet(name):
        (barrier / f"{name}-{me}").touch()
        deadline = time.monotonic() + 60
        while not (barrier / f"{name}-{other}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def write_together(table, data, *args, **kwargs):
        if "fact_order_items" in str(getattr(table, "table_uri", table)):
            if not commits:
                meet("commit")
            commits.append(day)
        return write(table, data, *args, **kwargs)

    delta_tables.write_deltalake = write_together
    import dagster as dg
    from lakehouse.cli.instance import open_instance
    from lakehouse.definitions import build_definitions
    from lakehouse.lib.partitions import range_tags
    from lakehouse.operations.runner import run_build
    from lakehouse.settings import get_settings

    defs = build_definitions(get_settings())
    selection = [dg.AssetKey(["raw", "orders"]), dg.AssetKey(["curated", "fact_order_items"])]
    with open_instance(Path(os.environ["DAGSTER_HOME"])) as instance:
        meet("start")
        day = date.fromisoformat(day)
        outcome = run_build(defs, instance, lambda _: None, selection, range_tags(day, day))
    print(json.dumps({"run_id": outcome.run_id, "success": outcome.success, "fact_commits": len(commits)}))
    """
)


@dataclass(frozen=True)
class ParallelRuns:
    lakehouse: Lakehouse
    home: Path
    before: pl.DataFrame  # the fact's rows per day before the runs
    raw_orders_before: pl.DataFrame  # order versions (id, updated_at) in raw before the runs
    raw_rows_before: int
    runs: list[dict]  # what each process printed: run id, success, fact commit attempts


@pytest.fixture(scope="module")
def parallel_runs(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> ParallelRuns:
    root = tmp_path_factory.mktemp("parallel")
    lakehouse = copy_of_build(root / "data", instance, scale=0.01, seed=42, days=30)
    lakehouse.advance(days=1)  # new orders: a watermark both runs would read
    home, barrier = root / "home", root / "barrier"
    home.mkdir()
    barrier.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")  # pools, concurrency
    fact = lakehouse.settings.tables_dir / "curated" / "fact_order_items"
    before = pl.read_delta(str(fact)).group_by("order_date").len().sort("order_date")
    raw_orders = pl.read_delta(str(lakehouse.settings.tables_dir / "raw" / "orders"))
    env = {**os.environ, "LAKEHOUSE_DATA_DIR": str(lakehouse.settings.data_dir), "DAGSTER_HOME": str(home)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_ONE_DAY, day, str(me), str(1 - me), str(barrier)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, day in enumerate(DAYS)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out[-2000:] + err[-3000:]
    runs = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    return ParallelRuns(lakehouse, home, before, order_versions(raw_orders), raw_orders.height, runs)


def test_two_runs_writing_different_days_of_a_fact_at_once_both_commit_and_nothing_is_lost(
    parallel_runs: ParallelRuns,
):
    assert [run["success"] for run in parallel_runs.runs] == [True, True]
    # both read the same version; the loser of the race committed again (its day was not the winner's)
    assert sorted(run["fact_commits"] for run in parallel_runs.runs) == [1, 2]
    fact = str(parallel_runs.lakehouse.settings.tables_dir / "curated" / "fact_order_items")
    after = pl.read_delta(fact).group_by("order_date").len().sort("order_date")
    assert after.equals(parallel_runs.before)  # every day's lines, the two rebuilt days included
    history = pl.DataFrame(DeltaTable(fact).history(2))
    replaced = sorted(json.loads(s)[0] for s in history.get_column(REPLACED_SLICES_COMMIT_KEY))
    assert replaced == list(DAYS)


def order_versions(orders: pl.DataFrame) -> pl.DataFrame:
    return orders.select("order_id", "updated_at").unique()


def test_two_runs_that_would_read_one_watermark_are_serialised(parallel_runs: ParallelRuns):
    """Both runs extract `raw/orders`: the pool lets one step at a time in, and the second reads the
    watermark the first moved, so each new order version lands once."""
    settings = parallel_runs.lakehouse.settings
    with sqlite3.connect(settings.sources_dir / "shop.db") as shop:
        rows = shop.execute("select order_id, updated_at from orders").fetchall()
    source = pl.DataFrame(rows, schema=["order_id", "updated_at"], orient="row")
    new = source.join(parallel_runs.raw_orders_before, on=["order_id", "updated_at"], how="anti")
    raw = pl.read_delta(str(settings.tables_dir / "raw" / "orders"))
    assert raw.height == parallel_runs.raw_rows_before + new.height  # each new version once
    assert new.height > 0

    with open_instance(parallel_runs.home) as instance:
        windows, extracted = [], []
        for run in parallel_runs.runs:
            events = [
                r.event_log_entry
                for r in instance.get_records_for_run(run["run_id"]).records
                if r.event_log_entry.step_key == ORDERS_STEP
            ]
            times = {e.dagster_event_type: e.timestamp for e in events if e.is_dagster_event}
            windows.append((times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS]))
            materialized = next(e.asset_materialization for e in events if e.asset_materialization)
            extracted.append(materialized.metadata["rows_extracted"].value)
    first, second = sorted(windows)
    assert first[1] <= second[0]  # the second step started after the first had committed
    assert sorted(extracted) == [0, new.height]
