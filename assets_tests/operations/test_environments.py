"""An isolated environment built beside a copy of a real build: its own tables, the main ones read
where they are (linked, not copied, not written), diffed against main."""

from dataclasses import replace
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse, copy_of_build
from assets_tests.defs.curated.truth import true_order_lines
from assets_tests.operations.change_support import declared, with_column
from lakehouse.definitions import build_definitions
from lakehouse.lib.storage import delta_tables
from lakehouse.operations.environments import build
from lakehouse.serving.query import run_query
from lakehouse.serving.resource import ServingCatalog

MART = "curated/mart_daily_sales"


@pytest.fixture
def built(tmp_path: Path, instance: dg.DagsterInstance) -> Lakehouse:
    return copy_of_build(tmp_path, instance, scale=0.01, seed=42, days=30)


def test_a_changed_mart_is_built_in_its_environment_and_diffed_against_main(
    built: Lakehouse, instance: dg.DagsterInstance
):
    main = built.settings
    code = declared(main)
    code[MART] = replace(code[MART], code_version="0123456789ab")
    versions = {key: delta_tables.version(str(Path(main.tables_dir, key))) for key in code}

    env = build(main, "try", build_definitions, list(code.values()), instance, lambda _: None)

    assert env.built == [MART]
    tables = env.settings.tables_dir
    assert not (tables / "curated" / "mart_daily_sales").is_symlink()
    assert (
        tables / "curated" / "fact_order_items"
    ).resolve() == main.tables_dir / "curated" / "fact_order_items"
    assert {
        key: delta_tables.version(str(Path(main.tables_dir, key))) for key in code
    } == versions  # main untouched
    [changed] = env.diffs
    assert (changed.table, changed.added, changed.removed, changed.changed) == (MART, 0, 0, 0)
    truth = true_order_lines(main.sources_dir).filter(pl.col("status") != "cancelled")
    assert changed.headline.total_after == truth.get_column("net_usd").sum()
    catalog = ServingCatalog.from_settings(env.settings, also_readable=(main.tables_dir,))
    lines = run_query(catalog, "select count(*) as n from curated.fact_order_items").to_pylist()
    assert lines == [{"n": pl.read_delta(str(main.tables_dir / "curated" / "fact_order_items")).height}]


def test_an_scd2_dimension_in_an_environment_starts_from_mains_history(
    built: Lakehouse, instance: dg.DagsterInstance
):
    """A column added to dim_customer: the dimension is cloned (its files hard-linked, not copied),
    migrated there and built on, keeping every version main holds; main is not written."""
    main = built.settings
    dim = "curated/dim_customer"
    code = declared(main)
    code[dim] = with_column(code[dim], "loyalty_tier", "String")
    history = pl.read_delta(str(main.tables_dir / dim)).sort("customer_key")
    version = delta_tables.version(str(main.tables_dir / dim))
    [data_file] = [f for f in (main.tables_dir / dim).glob("*.parquet")][:1]

    env = build(main, "scd2", build_definitions, list(code.values()), instance, lambda _: None)

    assert env.built == [dim]
    ours = env.settings.tables_dir / dim
    assert not ours.is_symlink() and (ours / data_file.name).stat().st_ino == data_file.stat().st_ino
    rows = pl.read_delta(str(ours)).sort("customer_key")
    assert rows.get_column("loyalty_tier").null_count() == rows.height
    assert rows.select(history.columns).equals(history)  # every version kept (in contract order)
    assert history.get_column("customer_id").n_unique() < history.height  # there is history to keep
    assert delta_tables.version(str(main.tables_dir / dim)) == version
    [changed] = env.diffs
    assert (changed.added, changed.removed, changed.changed) == (0, 0, 0)
