"""Incremental (unpartitioned) builds record the days they replaced as partition materialisations
of the day-sliced facts, so Dagster's partition status shows what the tables hold (issue 14.2)."""

from dataclasses import replace

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse
from lakehouse.definitions import partitions_end
from lakehouse.settings import get_settings

DAY_SLICED = {
    "fact_order_items": "order_date",
    "fact_payments": "settled_date",
    "fact_sessions": "session_date",
}


@pytest.mark.parametrize("table", DAY_SLICED, ids=str)
def test_every_day_a_fact_holds_is_a_materialised_partition(lakehouse: Lakehouse, table: str) -> None:
    """The shared build ran without a partition; every day of the table is materialised, no other."""
    path = lakehouse.settings.tables_dir / "curated" / table
    day = DAY_SLICED[table]
    held = pl.scan_delta(str(path)).select(pl.col(day).unique()).collect().get_column(day)
    materialised = lakehouse.instance.get_materialized_partitions(dg.AssetKey(["curated", table]))
    assert materialised == {d.isoformat() for d in held.to_list()}
    assert len(materialised) > 300  # a year of days


def test_the_partitions_end_where_the_simulated_data_ends(lakehouse: Lakehouse) -> None:
    """The shared build simulated 2025-01-01 .. 2025-12-31: its facts have those 365 partitions."""
    graph = lakehouse.definitions.resolve_asset_graph()
    for table in DAY_SLICED:
        keys = graph.get(dg.AssetKey(["curated", table])).partitions_def.get_partition_keys()
        assert (len(keys), keys[0], keys[-1]) == (365, "2025-01-01", "2025-12-31")


def test_without_simulated_sources_the_partitions_run_to_today(tmp_path) -> None:
    assert partitions_end(get_settings(tmp_path)) is None
    assert partitions_end(replace(get_settings(tmp_path), simulator=False)) is None
