"""Column lineage is derived from the very expressions that build each curated table."""

from __future__ import annotations

import dagster as dg
import polars as pl

from assets_tests.conftest import Lakehouse
from assets_tests.defs.curated.support import curated_assets
from lakehouse.defs.curated.facts import FACT_ORDER_ITEMS
from lakehouse.defs.curated.lineage import column_lineage
from lakehouse.defs.curated.marts import MART_DAILY_SALES
from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE

A, B = dg.AssetKey(["refined", "a"]), dg.AssetKey(["refined", "b"])


def deps(lineage: dg.TableColumnLineage) -> dict[str, list[tuple[str, str]]]:
    return {
        column: [(d.asset_key.path[-1], d.column_name) for d in found]
        for column, found in lineage.deps_by_column.items()
    }


def test_a_column_traces_through_derived_columns_to_the_inputs_holding_its_roots():
    derived = [(pl.col("x") * pl.col("y")).alias("xy"), (pl.col("xy") - pl.col("z")).alias("net")]
    outputs = [pl.col("net").alias("net_total"), pl.col("k"), pl.lit(1).alias("constant"), pl.col("_seen")]

    lineage = column_lineage(outputs, {A: ["k", "x", "_seen"], B: ["k", "y", "z"]}, derived)

    assert deps(lineage) == {"net_total": [("a", "x"), ("b", "y"), ("b", "z")], "k": [("a", "k")]}


def test_several_derivations_of_one_column_are_all_its_sources():
    derived = [pl.col("order_day").alias("day"), pl.col("settled_at").dt.date().alias("day")]

    lineage = column_lineage(
        [pl.col("day").dt.year().alias("year")], {A: ["order_day"], B: ["settled_at"]}, derived
    )

    assert deps(lineage) == {"year": [("a", "order_day"), ("b", "settled_at")]}


def lineage_of(key: dg.AssetKey) -> dict[str, list[tuple[str, str]]]:
    asset = next(a for a in curated_assets() if a.key == key)
    return deps(asset.metadata_by_key[key][COLUMN_LINEAGE])


def test_fact_revenue_traces_to_the_refined_order_line_columns_and_the_rate_of_the_day():
    lineage = lineage_of(FACT_ORDER_ITEMS)

    assert lineage["net_usd"] == [
        ("exchange_rates", "usd_rate"),
        ("order_items", "discount"),
        ("order_items", "quantity"),
        ("order_items", "unit_price"),
    ]
    assert lineage["usd_rate"] == [("exchange_rates", "usd_rate")]
    assert lineage["discount_usd"] == [("exchange_rates", "usd_rate"), ("order_items", "discount")]
    assert lineage["net_amount"] == [
        ("order_items", "discount"),
        ("order_items", "quantity"),
        ("order_items", "unit_price"),
    ]
    assert lineage["currency"] == [("orders", "currency")]  # the order's, also the rate's join key
    assert lineage["order_status"] == [("orders", "status")]
    assert lineage["customer_key"] == [("dim_customer", "customer_key")]
    assert not any(column.startswith("_") for column in lineage)


def test_mart_columns_trace_to_the_fact_and_the_dimensions():
    assert lineage_of(MART_DAILY_SALES) == {
        "order_date": [("fact_order_items", "order_date")],
        "category": [("dim_product", "category")],
        "country": [("dim_customer", "country")],
        "orders": [("fact_order_items", "order_id")],
        "units": [("fact_order_items", "quantity")],
        "gross_usd": [("fact_order_items", "gross_usd")],
        "discount_usd": [("fact_order_items", "discount_usd")],
        "net_usd": [("fact_order_items", "net_usd")],
    }


def test_every_curated_asset_records_its_lineage_on_each_materialisation(lakehouse):
    for asset in curated_assets():
        event = lakehouse.instance.get_latest_materialization_event(asset.key)
        recorded = event.asset_materialization.metadata[COLUMN_LINEAGE].value

        assert deps(recorded) == lineage_of(asset.key)
        assert recorded.deps_by_column, asset.key


def test_every_curated_column_traces_back_through_refined_to_raw_columns(lakehouse: Lakehouse):
    """Following the declared lineage, each curated column with a source reaches raw columns that exist."""
    graph = lakehouse.definitions.resolve_asset_graph()
    lineage = {
        node.key: node.metadata.get("dagster/column_lineage")
        for node in graph.asset_nodes
        if node.metadata.get("dagster/column_lineage") is not None
    }

    def raw_sources(key: dg.AssetKey, column: str) -> set[tuple[str, str]]:
        if key.path[0] == "raw":
            return {(key.to_user_string(), column)}
        deps = lineage[key].deps_by_column.get(column, []) if key in lineage else []
        return {source for dep in deps for source in raw_sources(dep.asset_key, dep.column_name)}

    fact = dg.AssetKey(["curated", "fact_order_items"])
    assert raw_sources(fact, "net_usd") == {
        ("raw/order_items", "quantity"),
        ("raw/order_items", "unit_price"),
        ("raw/order_items", "discount"),
        ("raw/exchange_rates", "usd_rate"),
    }
    assert raw_sources(dg.AssetKey(["curated", "fact_sessions"]), "session_date") == {
        ("raw/events", "event_at")
    }
    for key in (k for k in lineage if k.path[0] == "curated"):
        for column in lineage[key].deps_by_column:
            sources = raw_sources(key, column)
            assert sources, f"{key.to_user_string()}.{column} reaches no raw column"
            for table, raw_column in sources:
                raw = pl.scan_delta(str(lakehouse.settings.tables_dir.joinpath(*table.split("/"))))
                assert raw_column in raw.collect_schema(), (key.to_user_string(), column, table, raw_column)
