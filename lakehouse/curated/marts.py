"""Marts: business questions answered from the star schema."""

import dagster as dg
import polars as pl

from lakehouse.curated.dimensions import CURATED
from lakehouse.storage import write_spec


@dg.asset(
    key=["curated", "mart_daily_sales"],
    ins={
        "lines": dg.AssetIn(["curated", "fact_order_items"]),
        "customers": dg.AssetIn(["curated", "dim_customer"]),
        "products": dg.AssetIn(["curated", "dim_product"]),
    },
    description=(
        "Daily sales by order date (UTC), product category and customer country, cancelled orders "
        "excluded: orders, units, gross, discount and net revenue in USD."
    ),
    metadata={**write_spec.overwrite(), "grain": "day x category x country"},
    **CURATED,
)
def mart_daily_sales(lines: pl.LazyFrame, customers: pl.LazyFrame, products: pl.LazyFrame) -> pl.LazyFrame:
    return (
        lines.filter(pl.col("order_status") != "cancelled")
        .join(customers.select("customer_key", "country"), on="customer_key", how="left")
        .join(products.select("product_key", "category"), on="product_key", how="left")
        .group_by("order_date", "category", "country")
        .agg(
            pl.col("order_id").n_unique().alias("orders"),
            pl.col("quantity").sum().alias("units"),
            pl.col("gross_usd").sum().alias("gross_usd"),
            pl.col("discount_usd").sum().alias("discount_usd"),
            pl.col("net_usd").sum().alias("net_usd"),
        )
        .sort("order_date", "category", "country")
    )
