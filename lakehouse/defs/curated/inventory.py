"""Supplier stock in the star schema: the daily inventory fact and the inventory health mart.

`fact_inventory_daily` holds each refined snapshot row with the day's units sold (order lines of
the day, cancelled orders excluded) and the product version valid at the end of the day. It is
rebuilt day by day: the snapshot days refined since it was built, the order days whose lines were
rebuilt since (a backfill of the order-line fact reaches it that way), and the days of products
refined since. (Not a partitioned asset itself: Dagster cannot run a partitioned asset on a
partitioned input in an unpartitioned build.) `mart_inventory_health` judges each
product on the newest snapshot day: stock on hand, demand over the last 28 days, days of cover,
stock-out days; it is one row per product, rebuilt whole when the fact or the products moved.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl

from lakehouse.defs.curated.contracts import (
    DimProductContract,
    FactInventoryDailyContract,
    FactOrderItemsContract,
    MartInventoryHealthContract,
)
from lakehouse.defs.curated.dimensions import CURATED, DIM_PRODUCT
from lakehouse.defs.curated.facts import FACT_ORDER_ITEMS, built_now, replacing
from lakehouse.defs.curated.lineage import lineage_metadata
from lakehouse.defs.curated.marts import SOLD, recorded, whole_table_marks
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.incremental import changed_since, days, unchanged, watermarks
from lakehouse.lib.keys import date_key, lookup_version
from lakehouse.lib.quality.contract import contract_columns, enforced
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.store import DeltaStore

FACT_INVENTORY_DAILY = dg.AssetKey(["curated", "fact_inventory_daily"])
MART_INVENTORY_HEALTH = dg.AssetKey(["curated", "mart_inventory_health"])
REFINED_INVENTORY = dg.AssetKey(["refined", "supplier_inventory"])
# The columns the fact reads from the snapshots (declared by the supplier_inventory source's contract).
SNAPSHOT_COLUMNS = ["snapshot_date", "product_id", "sku", "warehouse", "on_hand", "on_order"]
INVENTORY_WATERMARKS = ["_refined_at", "_fact_built_at", "_built_at"]
DEMAND_DAYS = 28  # the window demand is averaged over
AT_RISK_DAYS = 7  # less cover than this is at risk

FACT_INVENTORY_COLUMNS = [
    pl.col("snapshot_date"),
    date_key(pl.col("snapshot_date")).alias("snapshot_date_key"),
    *map(pl.col, ["product_id", "product_key", "sku", "warehouse", "on_hand", "on_order"]),
    pl.col("units_sold").fill_null(0).cast(pl.Int64),
    (pl.col("on_hand") == 0).alias("is_stock_out"),
    pl.col("_refined_at"),
    pl.col("_fact_built_at"),
]
END_OF_DAY = (
    pl.col("snapshot_date").cast(pl.Datetime("us", "UTC")) + pl.duration(days=1, microseconds=-1)
).alias("_end_of_day")


def units_sold(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Units per product and order day, cancelled orders excluded, and the newest line build."""
    return (
        lines.filter(SOLD)
        .group_by(pl.col("order_date").alias("snapshot_date"), "product_id")
        .agg(pl.col("quantity").sum().alias("units_sold"), pl.col("_built_at").max().alias("_fact_built_at"))
    )


def inventory_days_to_rebuild(
    current: pl.LazyFrame | None, snapshots: pl.LazyFrame, lines: pl.LazyFrame, products: pl.LazyFrame
) -> list[date] | None:
    """Snapshot days refined since the fact was built, order days rebuilt since, and the days of
    products refined since (None: all)."""
    marks = watermarks(current, INVENTORY_WATERMARKS)
    if marks is None:
        return None
    changed_products = changed_since(products, marks["_built_at"]).select("product_id")
    return days(
        changed_since(snapshots, marks["_refined_at"]).select("snapshot_date"),
        changed_since(lines, marks["_fact_built_at"], "_built_at").select(pl.col("order_date").alias("day")),
        snapshots.join(changed_products, on="product_id", how="semi").select("snapshot_date"),
    )


@dg.asset(
    key=FACT_INVENTORY_DAILY,
    ins={
        "snapshots": dg.AssetIn(REFINED_INVENTORY),
        "lines": dg.AssetIn(FACT_ORDER_ITEMS),
        "products": dg.AssetIn(DIM_PRODUCT),
    },
    description=(
        "Supplier stock per product and day (grain: product x snapshot day) with the day's units sold, "
        "keyed to the product version valid at the end of the day."
    ),
    metadata={
        **write_spec.overwrite_partition("snapshot_date"),
        **enforced(FactInventoryDailyContract),
        **lineage_metadata(
            FACT_INVENTORY_COLUMNS,
            {
                REFINED_INVENTORY: SNAPSHOT_COLUMNS,
                FACT_ORDER_ITEMS: contract_columns(FactOrderItemsContract),
                DIM_PRODUCT: contract_columns(DimProductContract),
            },
            derived=[
                pl.col("quantity").sum().alias("units_sold"),
                pl.col("_built_at").alias("_fact_built_at"),
            ],
        ),
        "grain": "product x snapshot day",
        "business_keys": ["snapshot_date", "product_id"],
    },
    freshness_policy=DAILY,
    **CURATED,
)
def fact_inventory_daily(
    store: DeltaStore, snapshots: pl.LazyFrame, lines: pl.LazyFrame, products: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    rebuilt = inventory_days_to_rebuild(store.scan_or_none(FACT_INVENTORY_DAILY), snapshots, lines, products)
    if rebuilt is not None:
        snapshots = snapshots.filter(pl.col("snapshot_date").is_in(rebuilt))
    with_sales = snapshots.join(units_sold(lines), on=["snapshot_date", "product_id"], how="left")
    keyed = lookup_version(
        with_sales.with_columns(END_OF_DAY), products, "product_id", "product_key", "_end_of_day"
    )
    fact = keyed.select(*FACT_INVENTORY_COLUMNS, built_now()).sort("snapshot_date", "product_id")
    return replacing(fact, rebuilt)


NEWEST_DAY = pl.col("snapshot_date") == pl.col("snapshot_date").max()
HEALTH_MEASURES = [
    pl.col("snapshot_date").max().alias("as_of"),
    pl.col("on_hand").filter(NEWEST_DAY).last(),
    pl.col("on_order").filter(NEWEST_DAY).last(),
    pl.col("units_sold").sum().alias("units_sold_28d"),
    pl.col("is_stock_out").sum().cast(pl.Int64).alias("stock_out_days_28d"),
]
DEMAND = (pl.col("units_sold_28d") / DEMAND_DAYS).alias("daily_demand")
COVER = (
    pl.when(pl.col("daily_demand") > 0)
    .then(pl.col("on_hand") / pl.col("daily_demand"))
    .alias("days_of_cover")
)
STATUS = (
    pl.when(pl.col("on_hand") == 0)
    .then(pl.lit("out_of_stock"))
    .when(pl.col("days_of_cover").is_null())
    .then(pl.lit("no_recent_sales"))
    .when(pl.col("days_of_cover") < AT_RISK_DAYS)
    .then(pl.lit("at_risk"))
    .otherwise(pl.lit("healthy"))
    .alias("status")
)


def inventory_health(fact: pl.LazyFrame, products: pl.LazyFrame) -> pl.LazyFrame:
    """One row per product reported on the newest snapshot day: stock, 28-day demand, cover, status."""
    newest = fact.select(pl.col("snapshot_date").max()).collect().item()
    window = fact.filter(pl.col("snapshot_date") > newest - timedelta(days=DEMAND_DAYS))
    reported = window.filter(pl.col("snapshot_date") == newest).select("product_id")
    category = products.filter(pl.col("is_current")).select("product_id", "category")
    return (
        window.join(reported, on="product_id", how="semi")
        .group_by("product_id")
        .agg(HEALTH_MEASURES)
        .join(category, on="product_id", how="left")
        .with_columns(pl.col("category").fill_null("unknown"), DEMAND)
        .with_columns(COVER)
        .with_columns(STATUS)
        .sort("product_id")
    )


@dg.asset(
    key=MART_INVENTORY_HEALTH,
    ins={"fact": dg.AssetIn(FACT_INVENTORY_DAILY), "products": dg.AssetIn(DIM_PRODUCT)},
    description=(
        "Stock health per product on the newest snapshot day: on hand, 28-day demand, days of cover, "
        "stock-out days and a status (out_of_stock, at_risk, healthy, no_recent_sales)."
    ),
    metadata={
        **write_spec.overwrite(),
        **enforced(MartInventoryHealthContract),
        **lineage_metadata(
            [
                pl.col("product_id"),
                pl.col("category"),
                *HEALTH_MEASURES,
                DEMAND,
                COVER,
                STATUS,
            ],
            {
                FACT_INVENTORY_DAILY: contract_columns(FactInventoryDailyContract),
                DIM_PRODUCT: contract_columns(DimProductContract),
            },
        ),
        "grain": "product",
    },
    freshness_policy=DAILY,
    **CURATED,
)
def mart_inventory_health(
    store: DeltaStore, fact: pl.LazyFrame, products: pl.LazyFrame
) -> pl.LazyFrame | None:
    marks = whole_table_marks(fact, products, "_product_refined_at")
    if unchanged(store.scan_or_none(MART_INVENTORY_HEALTH), marks):
        return None  # neither the fact nor the products moved since the mart was built
    mart = recorded(inventory_health(fact, products), marks)
    return mart.select(contract_columns(MartInventoryHealthContract))
