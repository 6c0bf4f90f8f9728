"""Supplier stock in the star schema: the daily inventory fact and the inventory health mart.

`fact_inventory_daily` holds each refined snapshot row with the day's units sold (order lines of
the day, cancelled orders excluded) and the product version valid at the end of the day. It is
rebuilt day by day: the snapshot days refined since it was built, the order days whose lines were
rebuilt since (a backfill of the order-line fact reaches it that way), and the days of products
refined since, from their change on. (Not a partitioned asset itself: Dagster cannot run a
partitioned asset on a partitioned input in an unpartitioned build.) `mart_inventory_health` judges each
product on the newest snapshot day: stock on hand, demand over the last 28 days, days of cover,
stock-out days; it is one row per product, rebuilt whole when the fact or the products moved.
"""

from datetime import date, timedelta

import dagster as dg
import pandera.polars as pa
import polars as pl

from lakehouse.defs.curated.dimensions import DIM_DATE, DIM_PRODUCT, DIM_PRODUCT_TABLE
from lakehouse.defs.curated.facts import (
    FACT_ORDER_ITEMS,
    FACT_ORDER_ITEMS_TABLE,
    built_now,
    earliest_change_day,
    replacing_by_days,
)
from lakehouse.defs.curated.lineage import lineage_metadata
from lakehouse.defs.curated.marts import SOLD, recorded, whole_table_marks
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.incremental import (
    Target,
    affected,
    changed_members,
    changed_since,
    days,
    one_of,
    unchanged,
    watermarks,
)
from lakehouse.lib.keys import date_key, lookup_version
from lakehouse.lib.quality.contract import (
    Contract,
    UtcTimestamp,
    built_at,
    contract_columns,
    references,
    refined_at,
    watermark,
)
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.store import DeltaStore


class FactInventoryDailyContract(Contract):
    snapshot_date: pl.Date = pa.Field(
        nullable=False, description="The day the stock was counted (end of day, UTC)."
    )
    snapshot_date_key: pl.Int32 = pa.Field(
        nullable=False,
        description="Snapshot day as yyyymmdd: dim_date.",
        metadata=references(DIM_DATE, "date_key"),
    )
    product_id: pl.Int64 = pa.Field(nullable=False, description="The shop's product id.")
    product_key: pl.Int64 = pa.Field(
        nullable=False,
        description="dim_product version valid at the end of the day (-1: unknown).",
        metadata=references(DIM_PRODUCT, "product_key"),
    )
    sku: pl.String = pa.Field(
        nullable=False, description="The product's stock-keeping unit, as the supplier reports it."
    )
    warehouse: pl.String = pa.Field(
        nullable=True, description="Warehouse holding the stock (reported from September 2025)."
    )
    on_hand: pl.Int64 = pa.Field(nullable=False, ge=0, description="Units in stock at the end of the day.")
    on_order: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Units ordered from the supplier, not yet arrived."
    )
    units_sold: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Units on the day's order lines (cancelled orders excluded)."
    )
    is_stock_out: pl.Boolean = pa.Field(nullable=False, description="Nothing in stock at the end of the day.")
    refined_at: UtcTimestamp = refined_at("snapshot row")
    fact_built_at: UtcTimestamp = watermark("order-line fact row", "_fact_built_at")
    built_at: UtcTimestamp = built_at()


class MartInventoryHealthContract(Contract):
    product_id: pl.Int64 = pa.Field(nullable=False, description="The shop's product id.")
    category: pl.String = pa.Field(
        nullable=False, description="Current category ('unknown' if not in dim_product)."
    )
    as_of: pl.Date = pa.Field(nullable=False, description="The newest snapshot day.")
    on_hand: pl.Int64 = pa.Field(nullable=False, ge=0, description="Units in stock on that day.")
    on_order: pl.Int64 = pa.Field(nullable=False, ge=0, description="Units on order on that day.")
    units_sold_28d: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Units sold in the 28 days up to and including as_of."
    )
    daily_demand: pl.Float64 = pa.Field(nullable=False, ge=0, description="units_sold_28d / 28.")
    days_of_cover: pl.Float64 = pa.Field(
        nullable=True,
        ge=0,
        description="on_hand / daily_demand: days the stock lasts (null: no recent sales).",
    )
    stock_out_days_28d: pl.Int64 = pa.Field(
        nullable=False, ge=0, le=28, description="Snapshot days out of stock among those 28 days."
    )
    status: pl.String = pa.Field(
        nullable=False,
        isin=["out_of_stock", "at_risk", "healthy", "no_recent_sales"],
        description="out_of_stock (on_hand 0), at_risk (under 7 days of cover), healthy, or no_recent_sales.",
    )
    fact_built_at: UtcTimestamp = watermark("inventory fact row", "_fact_built_at")
    product_refined_at: UtcTimestamp = watermark("product refinement", "_product_refined_at")


FACT_INVENTORY_DAILY_TABLE = TableSpec(
    layer="curated",
    name="fact_inventory_daily",
    description=(
        "Supplier stock per product and day (grain: product x snapshot day) with the day's units sold, "
        "keyed to the product version valid at the end of the day."
    ),
    contract=FactInventoryDailyContract,
    key=("snapshot_date", "product_id"),
    grain="product x snapshot day",
    slice_by="snapshot_date",
    freshness=DAILY,
)
MART_INVENTORY_HEALTH_TABLE = TableSpec(
    layer="curated",
    name="mart_inventory_health",
    description=(
        "Stock health per product on the newest snapshot day: on hand, 28-day demand, days of cover, "
        "stock-out days and a status (out_of_stock, at_risk, healthy, no_recent_sales)."
    ),
    contract=MartInventoryHealthContract,
    key=("product_id",),
    grain="product",
    freshness=DAILY,
)
FACT_INVENTORY_DAILY = FACT_INVENTORY_DAILY_TABLE.asset_key
MART_INVENTORY_HEALTH = MART_INVENTORY_HEALTH_TABLE.asset_key
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
END_OF_DAY_AT = pl.col("_end_of_day")  # when a snapshot row takes its product's version


def units_sold(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Units per product and order day, cancelled orders excluded, and the newest line build."""
    return (
        lines.filter(SOLD)
        .group_by(pl.col("order_date").alias("snapshot_date"), "product_id")
        .agg(pl.col("quantity").sum().alias("units_sold"), pl.col("_built_at").max().alias("_fact_built_at"))
    )


def inventory_days_to_rebuild(
    current: Target | None, snapshots: pl.LazyFrame, lines: pl.LazyFrame, products: pl.LazyFrame
) -> list[date] | None:
    """Snapshot days refined since the fact was built, order days rebuilt since, and the days of
    products refined since, from their change on (None: all)."""
    marks = watermarks(current, INVENTORY_WATERMARKS)
    if marks is None:
        return None
    changed_products = changed_members(products, marks["_built_at"], "product_id")
    since = earliest_change_day(changed_products)
    of_changed = snapshots if since is None else snapshots.filter(pl.col("snapshot_date") >= since)
    of_changed = of_changed.with_columns(END_OF_DAY)
    return days(
        changed_since(snapshots, marks["_refined_at"]).select("snapshot_date"),
        changed_since(lines, marks["_fact_built_at"], "_built_at").select(pl.col("order_date").alias("day")),
        affected(of_changed, changed_products, "product_id", END_OF_DAY_AT).select("snapshot_date"),
    )


@FACT_INVENTORY_DAILY_TABLE.asset(
    ins={
        "snapshots": dg.AssetIn(REFINED_INVENTORY),
        "lines": dg.AssetIn(FACT_ORDER_ITEMS),
        "products": dg.AssetIn(DIM_PRODUCT),
    },
    metadata=lineage_metadata(
        FACT_INVENTORY_COLUMNS,
        {
            REFINED_INVENTORY: SNAPSHOT_COLUMNS,
            FACT_ORDER_ITEMS: contract_columns(FACT_ORDER_ITEMS_TABLE.contract),
            DIM_PRODUCT: contract_columns(DIM_PRODUCT_TABLE.contract),
        },
        derived=[
            pl.col("quantity").sum().alias("units_sold"),
            pl.col("_built_at").alias("_fact_built_at"),
        ],
    ),
)
def fact_inventory_daily(
    context: dg.AssetExecutionContext,
    store: DeltaStore,
    snapshots: pl.LazyFrame,
    lines: pl.LazyFrame,
    products: pl.LazyFrame,
) -> dg.Output[RowBatches]:
    previous = store.reading(context).pin(FACT_INVENTORY_DAILY)
    rebuilt = inventory_days_to_rebuild(previous, snapshots, lines, products)
    if rebuilt is not None:
        snapshots = snapshots.filter(one_of("snapshot_date", rebuilt))
    built = built_now()

    def snapshots_of(days: list[date]) -> pl.LazyFrame:
        sales = units_sold(lines.filter(one_of("order_date", days)))
        of_days = snapshots.filter(one_of("snapshot_date", days))
        with_sales = of_days.join(sales, on=["snapshot_date", "product_id"], how="left")
        keyed = lookup_version(
            with_sales.with_columns(END_OF_DAY), products, "product_id", "product_key", "_end_of_day"
        )
        return keyed.select(*FACT_INVENTORY_COLUMNS, built).sort("snapshot_date", "product_id")

    return replacing_by_days(snapshots_of, rebuilt, snapshots.select("snapshot_date"), store.batch_rows)


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


@MART_INVENTORY_HEALTH_TABLE.asset(
    ins={"fact": dg.AssetIn(FACT_INVENTORY_DAILY), "products": dg.AssetIn(DIM_PRODUCT)},
    metadata=lineage_metadata(
        [pl.col("product_id"), pl.col("category"), *HEALTH_MEASURES, DEMAND, COVER, STATUS],
        {
            FACT_INVENTORY_DAILY: contract_columns(FactInventoryDailyContract),
            DIM_PRODUCT: contract_columns(DIM_PRODUCT_TABLE.contract),
        },
    ),
)
def mart_inventory_health(
    context: dg.AssetExecutionContext, store: DeltaStore, fact: pl.LazyFrame, products: pl.LazyFrame
) -> pl.LazyFrame | None:
    reads = store.reading(context)
    marks = whole_table_marks(reads.pin(FACT_INVENTORY_DAILY), products, "_product_refined_at")
    if unchanged(reads.scan_or_none(MART_INVENTORY_HEALTH), marks):
        return None  # neither the fact nor the products moved since the mart was built
    mart = recorded(inventory_health(fact, products), marks)
    return mart.select(contract_columns(MartInventoryHealthContract))


checks = [
    FACT_INVENTORY_DAILY_TABLE.check_step(fact_inventory_daily),
    MART_INVENTORY_HEALTH_TABLE.check_step(mart_inventory_health),
]
