"""Marts: business questions answered from the star schema, rebuilt day by day."""

from datetime import date

import dagster as dg
import polars as pl

from lakehouse.curated.contracts import (
    DimCustomerContract,
    DimProductContract,
    FactOrderItemsContract,
    MartDailySalesContract,
)
from lakehouse.curated.dimensions import CURATED
from lakehouse.curated.facts import DIM_CUSTOMER, DIM_PRODUCT, FACT_ORDER_ITEMS, replacing
from lakehouse.curated.incremental import changed_since, days, newest, watermarks
from lakehouse.curated.lineage import lineage_metadata
from lakehouse.orchestration.freshness import DAILY
from lakehouse.quality.contract import contract_columns, enforced
from lakehouse.storage import write_spec
from lakehouse.storage.store import DeltaStore

MART_DAILY_SALES = dg.AssetKey(["curated", "mart_daily_sales"])
SALES_WATERMARKS = ["_fact_built_at", "_customer_refined_at", "_product_refined_at"]
SALES_GRAIN = [pl.col("order_date"), pl.col("category"), pl.col("country")]
SALES_MEASURES = [
    pl.col("order_id").n_unique().cast(pl.Int64).alias("orders"),
    pl.col("quantity").sum().alias("units"),
    pl.col("gross_usd").sum().alias("gross_usd"),
    pl.col("discount_usd").sum().alias("discount_usd"),
    pl.col("net_usd").sum().alias("net_usd"),
]


def sales_days_to_rebuild(
    current: pl.LazyFrame | None, lines: pl.LazyFrame, customers: pl.LazyFrame, products: pl.LazyFrame
) -> list[date] | None:
    """Days whose fact lines were rebuilt, or whose customers' or products' attributes changed."""
    marks = watermarks(current, SALES_WATERMARKS)
    if marks is None:  # no mart yet: build every day
        return None
    customers_changed = changed_since(customers, marks["_customer_refined_at"]).select("customer_key")
    products_changed = changed_since(products, marks["_product_refined_at"]).select("product_key")
    rebuilt_lines = changed_since(lines, marks["_fact_built_at"], "_built_at")
    return days(
        rebuilt_lines.select("order_date"),
        lines.join(customers_changed, on="customer_key", how="semi").select("order_date"),
        lines.join(products_changed, on="product_key", how="semi").select("order_date"),
    )


@dg.asset(
    key=MART_DAILY_SALES,
    ins={
        "lines": dg.AssetIn(FACT_ORDER_ITEMS),
        "customers": dg.AssetIn(DIM_CUSTOMER),
        "products": dg.AssetIn(DIM_PRODUCT),
    },
    description=(
        "Daily sales by order date (UTC), product category and customer country, cancelled orders "
        "excluded: orders, units, gross, discount and net revenue in USD."
    ),
    metadata={
        **write_spec.overwrite_partition("order_date"),
        **enforced(MartDailySalesContract),
        **lineage_metadata(
            [*SALES_GRAIN, *SALES_MEASURES],
            {
                FACT_ORDER_ITEMS: contract_columns(FactOrderItemsContract),
                DIM_CUSTOMER: contract_columns(DimCustomerContract),
                DIM_PRODUCT: contract_columns(DimProductContract),
            },
        ),
        "grain": "day x category x country",
    },
    freshness_policy=DAILY,
    **CURATED,
)
def mart_daily_sales(
    store: DeltaStore, lines: pl.LazyFrame, customers: pl.LazyFrame, products: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    rebuilt = sales_days_to_rebuild(store.scan_or_none(MART_DAILY_SALES), lines, customers, products)
    if rebuilt is not None:
        lines = lines.filter(pl.col("order_date").is_in(rebuilt))
    mart = (
        lines.filter(pl.col("order_status") != "cancelled")
        .join(customers.select("customer_key", "country"), on="customer_key", how="left")
        .join(products.select("product_key", "category"), on="product_key", how="left")
        .group_by(SALES_GRAIN)
        .agg(*SALES_MEASURES, pl.col("_built_at").max().alias("_fact_built_at"))
        .with_columns(
            newest(customers).alias("_customer_refined_at"), newest(products).alias("_product_refined_at")
        )
        .sort("order_date", "category", "country")
    )
    return replacing(mart, rebuilt)
