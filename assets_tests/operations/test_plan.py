"""`lakehouse plan` on a real build: the code's tables against what the tables hold, under temporary
spec changes (overrides of the declared tables, see `change_support`)."""

from dataclasses import replace

import dagster as dg
import pytest

from assets_tests.conftest import Lakehouse, copy_of_build
from assets_tests.operations.change_support import declared, renamed, retyped, with_column
from lakehouse.lib.storage import delta_tables
from lakehouse.operations.plan import (
    ADDED,
    RENAMED,
    RETYPED,
    TRANSFORM_CHANGED,
    UPSTREAM,
    DeclaredTable,
    Plan,
    make_plan,
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> Lakehouse:
    """Only read: plans write nothing."""
    return copy_of_build(tmp_path_factory.mktemp("plan"), instance, scale=0.01, seed=42, days=30)


@pytest.fixture
def code(built: Lakehouse) -> dict[str, DeclaredTable]:
    return declared(built.settings)


def plan_of(built: Lakehouse, code: dict[str, DeclaredTable]) -> Plan:
    return make_plan(built.settings.tables_dir, code.values())


def test_a_build_matches_its_code(built: Lakehouse, code: dict[str, DeclaredTable]):
    plan = plan_of(built, code)

    assert plan.tables == []
    assert plan.text() == "No changes: every table matches the code."


def test_a_column_added_to_a_curated_table_rebuilds_it_alone(
    built: Lakehouse, code: dict[str, DeclaredTable]
):
    code["curated/mart_customer_rfm"] = with_column(
        code["curated/mart_customer_rfm"], "email_opt_in", "Boolean"
    )

    [table] = plan_of(built, code).tables

    assert table.table == "curated/mart_customer_rfm"
    assert [(c.kind, c.detail) for c in table.changes] == [(ADDED, "email_opt_in Boolean")]
    assert not table.breaking
    assert table.migration.describe() == ["add email_opt_in Boolean (null until rebuilt)"]
    assert table.rebuild and table.emptied_first and table.days is None


def test_a_renamed_refined_column_rebuilds_every_table_downstream(
    built: Lakehouse, code: dict[str, DeclaredTable]
):
    code["refined/orders"] = renamed(code["refined/orders"], "channel", "sales_channel")

    plan = plan_of(built, code)

    orders = plan.tables[0]
    assert (orders.table, orders.breaking, orders.rebuild) == ("refined/orders", True, False)
    assert [(c.kind, c.detail) for c in orders.changes] == [(RENAMED, "channel -> sales_channel")]
    assert orders.migration.describe() == ["rename channel -> sales_channel"]
    downstream = [t for t in code["refined/orders"].downstream if t.startswith("curated/")]
    assert [t.table for t in plan.rebuilt] == downstream
    assert all(c.kind == UPSTREAM for t in plan.rebuilt for c in t.changes)
    # The day-partitioned facts over exactly the days they hold.
    items = next(t for t in plan.rebuilt if t.table == "curated/fact_order_items")
    uri = str(built.settings.tables_dir / "curated" / "fact_order_items")
    days = delta_tables.scan(uri).select("order_date").collect().get_column("order_date")
    assert items.days == (days.min(), days.max())
    assert plan.days[0] == days.min()


def test_a_retype_needs_a_declared_cast(built: Lakehouse, code: dict[str, DeclaredTable]):
    code["refined/order_items"] = retyped(
        code["refined/order_items"], "quantity", "Int32", declared_cast=False
    )

    plan = plan_of(built, code)

    assert [(c.kind, c.detail) for c in plan.tables[0].changes] == [(RETYPED, "quantity: Int64 -> Int32")]
    assert plan.tables[0].migration is None
    assert plan.problems == [
        "refined/order_items: quantity changes type (Int64 -> Int32) with no declared cast "
        '(add {"cast": {"quantity": "Int32"}} to its migrations)'
    ]
    code["refined/order_items"] = retyped(code["refined/order_items"], "quantity", "Int32")
    cast = plan_of(built, code)
    assert cast.problems == [] and cast.tables[0].migration.describe() == ["cast quantity to Int32"]


def test_a_changed_mart_transform_rebuilds_the_mart_whole(built: Lakehouse, code: dict[str, DeclaredTable]):
    mart = code["curated/mart_daily_sales"]
    code["curated/mart_daily_sales"] = replace(mart, code_version="0123456789ab")

    [table] = plan_of(built, code).tables

    assert [(c.kind, c.detail) for c in table.changes] == [
        (TRANSFORM_CHANGED, f"code version {mart.code_version} -> 0123456789ab")
    ]
    assert table.breaking and table.emptied_first and table.migration is None
    assert table.rebuild_text() == "rebuild the whole table"
