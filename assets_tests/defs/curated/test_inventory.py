"""The inventory fact and health mart, held to the simulator's supplier snapshots and true sales."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from assets_tests.conftest import Lakehouse
from assets_tests.defs.curated.truth import sold, true_order_lines
from lakehouse.defs.curated.inventory import AT_RISK_DAYS, DEMAND_DAYS
from lakehouse.simulator import DEFECTS_FILE


def curated(lakehouse: Lakehouse, name: str) -> pl.DataFrame:
    return pl.read_delta(str(lakehouse.settings.tables_dir / "curated" / name))


def true_units(lakehouse: Lakehouse) -> pl.DataFrame:
    """Units sold per product and day, cancelled orders excluded, from the simulator's clean lines."""
    lines = sold(true_order_lines(lakehouse.settings.sources_dir))
    return lines.group_by(pl.col("order_date").alias("snapshot_date"), "product_id").agg(
        pl.col("quantity").sum().cast(pl.Int64).alias("true_units")
    )


def test_the_daily_fact_holds_every_clean_snapshot_row_with_its_stock_outs(any_lakehouse: Lakehouse):
    truth = any_lakehouse.manifest["inventory"]
    fact = curated(any_lakehouse, "fact_inventory_daily")
    assert fact.height == truth["clean_rows"]
    assert fact.get_column("is_stock_out").sum() == truth["stockout_product_days"]
    # a product in quarantine is the unknown member, as in every fact
    defects = pl.read_parquet(any_lakehouse.settings.sources_dir / DEFECTS_FILE)
    quarantined = defects.filter(pl.col("table") == "products", pl.col("handling") == "quarantine")
    unknown = fact.filter(pl.col("product_key") == -1).get_column("product_id").cast(pl.String)
    assert set(unknown) == set(quarantined.get_column("key"))


def test_units_sold_are_the_days_true_sales_of_the_product(any_lakehouse: Lakehouse):
    fact = curated(any_lakehouse, "fact_inventory_daily")
    compared = fact.join(true_units(any_lakehouse), on=["snapshot_date", "product_id"], how="left")
    expected = compared.get_column("true_units").fill_null(0)
    assert compared.get_column("units_sold").equals(expected, check_names=False)
    assert compared.get_column("units_sold").sum() > 0


def test_inventory_health_judges_the_newest_day_by_the_last_28_days(any_lakehouse: Lakehouse):
    last = any_lakehouse.manifest["inventory"]["last_clean_day"]
    mart = curated(any_lakehouse, "mart_inventory_health")
    assert mart.height == last["products"]
    assert {str(d) for d in mart.get_column("as_of")} == {last["date"]}
    assert mart.get_column("on_hand").sum() == last["on_hand"]
    assert mart.get_column("on_order").sum() == last["on_order"]
    assert (mart.get_column("status") == "out_of_stock").sum() == last["stockout_products"]

    as_of = mart.get_column("as_of")[0]
    recent = true_units(any_lakehouse).filter(pl.col("snapshot_date") > as_of - timedelta(days=DEMAND_DAYS))
    demand = recent.group_by("product_id").agg(
        (pl.col("true_units").sum() / DEMAND_DAYS).alias("true_demand")
    )
    judged = mart.join(demand, on="product_id", how="left").with_columns(pl.col("true_demand").fill_null(0.0))
    assert (judged.get_column("daily_demand") - judged.get_column("true_demand")).abs().max() < 1e-12
    cover = judged.filter(pl.col("true_demand") > 0).select(
        (pl.col("days_of_cover") - pl.col("on_hand") / pl.col("true_demand")).abs().max()
    )
    assert cover.item() < 1e-9
    at_risk = judged.filter(pl.col("on_hand") > 0, pl.col("on_hand") / pl.col("true_demand") < AT_RISK_DAYS)
    assert sorted(at_risk.get_column("product_id")) == sorted(
        mart.filter(pl.col("status") == "at_risk").get_column("product_id")
    )
