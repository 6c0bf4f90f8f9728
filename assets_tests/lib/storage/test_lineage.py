"""`lakehouse lineage` of incremental tables after an incremental build: every table version the
build read, the table's own previous version included."""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from assets_tests.conftest import copy_of_build
from assets_tests.selected_build import build_selected, feeding
from lakehouse.cli import main
from lakehouse.lib.storage.history import Commit, history, lineage
from lakehouse.settings import Settings


@dataclass(frozen=True)
class Incremental:
    settings: Settings
    first_run_id: str  # the full build
    run_id: str  # the incremental build, a day later


@pytest.fixture(scope="module")
def incremental(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> Incremental:
    """A lakehouse built, advanced a day and built again (incrementally): what the fact judged here
    is built from (the tests follow its lineage, and refined/orders', down to raw), and the calendar
    its date key check reads."""
    lakehouse = copy_of_build(tmp_path_factory.mktemp("lineage"), instance, scale=0.002, seed=3, days=20)
    first_run_id = lakehouse.outcome.run_id
    lakehouse.advance(1)
    outcome = build_selected(lakehouse, instance, feeding("curated/fact_order_items", "curated/dim_date"))
    assert outcome.success
    return Incremental(lakehouse.settings, first_run_id, outcome.run_id)


def newest(tables: Path, table: str) -> Commit:
    return history(tables, table, limit=1)[0]


def test_refined_orders_names_the_raw_version_it_refined_and_its_own_previous_version(incremental):
    tables = incremental.settings.tables_dir
    tree = lineage(tables, "refined.orders")

    raw, previous = newest(tables, "raw/orders"), history(tables, "refined/orders")[1]
    assert tree.commit.run_id == raw.run_id == incremental.run_id
    assert previous.run_id == incremental.first_run_id
    assert [(n.commit.table, n.commit.version) for n in tree.inputs] == [
        ("raw/orders", raw.version),
        ("refined/orders", previous.version),
    ]
    # the raw version is followed down (raw read its own previous version for its watermark) ...
    assert [(n.commit.table, n.commit.version) for n in tree.inputs[0].inputs] == [
        ("raw/orders", history(tables, "raw/orders")[1].version)
    ]
    # ... the table's own previous version is named, not followed (its lineage is its own query)
    assert tree.inputs[1].inputs == []


def test_fact_order_items_names_every_input_version_and_its_own_previous_version(incremental):
    tables = incremental.settings.tables_dir
    tree = lineage(tables, "curated.fact_order_items")

    inputs = [
        "curated/dim_customer",
        "curated/dim_product",
        "refined/exchange_rates",
        "refined/order_items",
        "refined/orders",
    ]
    expected = {name: newest(tables, name).version for name in inputs}
    expected["curated/fact_order_items"] = history(tables, "curated/fact_order_items")[1].version
    assert tree.commit.run_id == incremental.run_id
    assert [(n.commit.table, n.commit.version) for n in tree.inputs] == sorted(expected.items())
    refined_orders = next(n for n in tree.inputs if n.commit.table == "refined/orders")
    assert [n.commit.table for n in refined_orders.inputs] == ["raw/orders", "refined/orders"]


def test_the_lineage_command_prints_the_tree(incremental, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(incremental.settings.data_dir))
    tables = incremental.settings.tables_dir
    previous = history(tables, "refined/orders")[1].version

    result = CliRunner().invoke(main, ["lineage", "refined.orders"], catch_exceptions=False)

    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith(f"refined/orders v{newest(tables, 'refined/orders').version}  MERGE (merge)")
    assert f"  refined/orders v{previous}  WRITE (merge)  run {incremental.first_run_id}" in lines  # created
