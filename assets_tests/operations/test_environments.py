"""An isolated environment built beside a copy of a real build: its own tables, the main ones read
where they are (linked, not copied, not written), diffed against main."""

from dataclasses import replace
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse, copy_of_build
from assets_tests.defs.curated.truth import true_order_lines
from assets_tests.operations.change_support import declared
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
