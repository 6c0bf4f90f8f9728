"""Daily partitions of the facts: a backfill of some days replaces exactly their slices."""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse, copy_of_build
from lakehouse.lib import partitions
from lakehouse.lib.partitions import range_tags
from lakehouse.operations.runner import run_build

FACTS = {"fact_order_items": "order_date", "fact_payments": "settled_date", "fact_sessions": "session_date"}
DAYS = [date(2025, 1, 10), date(2025, 1, 11)]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> Lakehouse:
    return copy_of_build(tmp_path_factory.mktemp("partitions"), instance, scale=0.002, seed=3, days=20)


def fact(lakehouse: Lakehouse, name: str) -> pl.DataFrame:
    return pl.read_delta(str(lakehouse.settings.tables_dir / "curated" / name))


def test_the_facts_are_daily_partitioned_and_the_build_runs_them_incrementally(small: Lakehouse):
    graph = small.definitions.resolve_asset_graph()
    partitioned = {n.key.path[-1] for n in graph.asset_nodes if n.partitions_def is not None}
    assert partitioned == set(FACTS)
    assert small.outcome.success


def test_a_backfill_replaces_exactly_the_slices_of_its_days(small: Lakehouse, instance: dg.DagsterInstance):
    before = {name: fact(small, name) for name in FACTS}
    keys = [dg.AssetKey(["curated", name]) for name in FACTS]

    outcome = run_build(small.definitions, instance, lambda _: None, keys, range_tags(DAYS[0], DAYS[-1]))

    assert outcome.success
    for name, day in FACTS.items():
        after = fact(small, name)
        inside = pl.col(day).is_in(DAYS)
        # outside the days: not a row touched, not even rebuilt
        assert after.filter(~inside).sort(pl.all()).equals(before[name].filter(~inside).sort(pl.all())), name
        # inside: rebuilt now, to the same content
        rebuilt, old = after.filter(inside), before[name].filter(inside)
        assert rebuilt.height == old.height > 0, name
        assert rebuilt.get_column("_built_at").min() > old.get_column("_built_at").max(), name
        assert rebuilt.drop("_built_at").sort(pl.all()).equals(old.drop("_built_at").sort(pl.all())), name
        events = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(["curated", name]), storage_ids=None), limit=10
        ).records
        partitions = sorted(
            r.event_log_entry.asset_materialization.partition for r in events if r.run_id == outcome.run_id
        )
        assert partitions == [d.isoformat() for d in DAYS], name


def test_one_partition_rebuilds_exactly_its_day(small: Lakehouse, instance: dg.DagsterInstance):
    """As the UI's partition dialog, or `dagster asset materialize --partition`, runs one day."""
    day, name = date(2025, 1, 15), "fact_payments"
    before = fact(small, name)
    key = dg.AssetKey(["curated", name])

    outcome = run_build(small.definitions, instance, lambda _: None, [key], {"dagster/partition": str(day)})

    assert outcome.success
    after, inside = fact(small, name), pl.col("settled_date") == day
    assert after.filter(~inside).sort(pl.all()).equals(before.filter(~inside).sort(pl.all()))
    rebuilt, old = after.filter(inside), before.filter(inside)
    assert rebuilt.height == old.height > 0
    assert rebuilt.get_column("_built_at").min() > old.get_column("_built_at").max()
    assert rebuilt.drop("_built_at").sort(pl.all()).equals(old.drop("_built_at").sort(pl.all()))


def test_a_backfill_range_must_be_a_range_of_the_history():
    with pytest.raises(ValueError, match="ends \\(2025-01-01\\) before it starts \\(2025-01-02\\)"):
        range_tags(date(2025, 1, 2), date(2025, 1, 1))
    with pytest.raises(ValueError, match="before the history does \\(2025-01-01\\)"):
        range_tags(date(2024, 12, 31), date(2025, 1, 1))
    with pytest.raises(ValueError, match=r"ends \(2025-02-01\) after the data does \(2025-01-31\)"):
        range_tags(date(2025, 1, 1), date(2025, 2, 1), partitions.ending(date(2025, 2, 1)))
