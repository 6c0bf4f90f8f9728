"""Deletes in the simulated shop: soft deletes as the manifest lists them, test records purged, orders
untouched."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from assets_tests.simulator.helpers import read_table
from lakehouse.simulator import advance, generate
from lakehouse.simulator.defects import corrupt, mark
from lakehouse.simulator.deletes import TEST_ID_BASE
from lakehouse.simulator.model import build_world
from lakehouse.simulator.simulation import build_state
from lakehouse.simulator.state import Params

KEYS = {"customers": "customer_id", "products": "product_id"}


@pytest.mark.parametrize("table", list(KEYS))
def test_the_database_holds_exactly_the_soft_deletes_the_manifest_lists(
    demo: Path, demo_manifest: dict[str, Any], table: str
) -> None:
    rows = read_table(demo, table).filter(pl.col("deleted_at").is_not_null())
    deleted = rows.select(pl.col(KEYS[table]).cast(pl.String), "deleted_at").unique()

    assert dict(deleted.rows()) == demo_manifest["deletes"][table]["soft"]
    assert len(demo_manifest["deletes"][table]["soft"]) > 0
    assert (rows.get_column("updated_at") == rows.get_column("deleted_at")).all()


@pytest.mark.parametrize("table", list(KEYS))
def test_a_test_record_is_created_every_30_days_and_purged_7_days_later(
    demo: Path, demo_manifest: dict[str, Any], table: str
) -> None:
    """365 days: records on days 1, 31, …, 361; the twelve of days 1-331 purged on days 8-338."""
    purged = {str(TEST_ID_BASE + n): 8 + 30 * (n - 1) for n in range(1, 13)}
    held = read_table(demo, table).filter(pl.col(KEYS[table]) > TEST_ID_BASE)

    assert demo_manifest["deletes"][table]["hard"] == purged
    assert held.get_column(KEYS[table]).to_list() == [TEST_ID_BASE + 13]


def test_deletes_leave_orders_and_order_lines_as_they_are() -> None:
    """So every total in the manifest is the one a shop without deletes would have."""
    params = Params(scale=0.002, seed=3, start=date(2025, 1, 1), days=90)
    with_deletes = build_state(params).sources.tables
    world = build_world(params.scale, params.seed, params.start, params.days)
    without = corrupt(mark(world, params.seed, params.days)).tables

    for table in ("orders", "order_items"):
        assert with_deletes[table].equals(without[table]), table


def test_advancing_past_a_purge_removes_the_rows_from_the_database(tmp_path: Path) -> None:
    generate(tmp_path, scale=0.002, seed=5, days=5)
    assert TEST_ID_BASE + 1 in read_table(tmp_path, "customers").get_column("customer_id").to_list()

    manifest = advance(tmp_path, days=5)  # the day-1 test records are purged on day 8

    for table, key in KEYS.items():
        assert manifest["deletes"][table]["hard"] == {str(TEST_ID_BASE + 1): 8}
        assert TEST_ID_BASE + 1 not in read_table(tmp_path, table).get_column(key).to_list()
