"""Conformed dimensions: customer, product, date. Each has an unknown member (key -1)."""

import dagster as dg
import polars as pl

from lakehouse import CODE_VERSION
from lakehouse.curated.contracts import DimCustomerContract, DimDateContract, DimProductContract
from lakehouse.curated.keys import UNKNOWN_KEY, date_key
from lakehouse.curated.lineage import lineage_metadata, refined_columns
from lakehouse.quality.contract import enforced
from lakehouse.storage import write_spec

CURATED = {"group_name": "curated", "kinds": {"delta", "polars"}, "code_version": CODE_VERSION}
REFINED_CUSTOMERS = dg.AssetKey(["refined", "customers"])
REFINED_PRODUCTS = dg.AssetKey(["refined", "products"])
REFINED_ORDERS = dg.AssetKey(["refined", "orders"])
REFINED_PAYMENTS = dg.AssetKey(["refined", "payments"])

CUSTOMER_COLUMNS = [
    pl.col("customer_id").alias("customer_key"),
    pl.col("customer_id"),
    pl.col("email_hash"),
    pl.col("country"),
    pl.col("signup_at").dt.date().alias("signup_date"),
    pl.col("updated_at"),
    pl.col("_refined_at"),
]
PRODUCT_COLUMNS = [
    pl.col("product_id").alias("product_key"),
    pl.col("product_id"),
    pl.col("sku"),
    pl.col("name"),
    pl.col("category"),
    pl.col("unit_price").alias("list_price_usd"),
    pl.col("updated_at"),
    pl.col("_refined_at"),
]
# The calendar's days span the orders' and the settlements' days.
CALENDAR_DAYS = [pl.col("order_date").alias("date"), pl.col("settled_at").dt.date().alias("date")]
DATE_COLUMNS = [
    date_key(pl.col("date")).alias("date_key"),
    pl.col("date"),
    pl.col("date").dt.year().alias("year"),
    pl.col("date").dt.quarter().alias("quarter"),
    pl.col("date").dt.month().alias("month"),
    pl.col("date").dt.strftime("%B").alias("month_name"),
    pl.col("date").dt.day().alias("day_of_month"),
    pl.col("date").dt.weekday().alias("day_of_week"),
    (pl.col("date").dt.weekday() >= 6).alias("is_weekend"),
]


def _with_unknown_member(dim: pl.LazyFrame, key: str) -> pl.LazyFrame:
    member = pl.LazyFrame({key: [UNKNOWN_KEY]}, schema={key: pl.Int64})
    return pl.concat([member, dim], how="diagonal_relaxed")


@dg.asset(
    key=["curated", "dim_customer"],
    ins={"customers": dg.AssetIn(REFINED_CUSTOMERS)},
    description="Customer dimension: one row per customer plus the unknown member (key -1). No direct PII.",
    metadata={
        **write_spec.overwrite(),
        **enforced(DimCustomerContract),
        **lineage_metadata(CUSTOMER_COLUMNS, {REFINED_CUSTOMERS: refined_columns(REFINED_CUSTOMERS)}),
        "grain": "customer",
    },
    **CURATED,
)
def dim_customer(customers: pl.LazyFrame) -> pl.LazyFrame:
    dim = customers.select(CUSTOMER_COLUMNS)
    return _with_unknown_member(dim, "customer_key").with_columns(
        pl.col("customer_id").fill_null(UNKNOWN_KEY), pl.col("country").fill_null("unknown")
    )


@dg.asset(
    key=["curated", "dim_product"],
    ins={"products": dg.AssetIn(REFINED_PRODUCTS)},
    description="Product dimension: one row per product plus the unknown member (key -1).",
    metadata={
        **write_spec.overwrite(),
        **enforced(DimProductContract),
        **lineage_metadata(PRODUCT_COLUMNS, {REFINED_PRODUCTS: refined_columns(REFINED_PRODUCTS)}),
        "grain": "product",
    },
    **CURATED,
)
def dim_product(products: pl.LazyFrame) -> pl.LazyFrame:
    dim = products.select(PRODUCT_COLUMNS)
    return _with_unknown_member(dim, "product_key").with_columns(
        pl.col("product_id").fill_null(UNKNOWN_KEY), pl.col("category").fill_null("unknown")
    )


@dg.asset(
    key=["curated", "dim_date"],
    ins={"orders": dg.AssetIn(REFINED_ORDERS), "payments": dg.AssetIn(REFINED_PAYMENTS)},
    description="Calendar dimension: every day from the first order to the last order or settlement.",
    metadata={
        **write_spec.overwrite(),
        **enforced(DimDateContract),
        **lineage_metadata(
            DATE_COLUMNS,
            {
                REFINED_ORDERS: refined_columns(REFINED_ORDERS),
                REFINED_PAYMENTS: refined_columns(REFINED_PAYMENTS),
            },
            derived=CALENDAR_DAYS,
        ),
        "grain": "day",
    },
    **CURATED,
)
def dim_date(orders: pl.LazyFrame, payments: pl.LazyFrame) -> pl.LazyFrame:
    order_days, settlement_days = CALENDAR_DAYS
    days = pl.concat([orders.select(order_days), payments.select(settlement_days)])
    span = days.select(first=pl.col("date").min(), last=pl.col("date").max())
    return span.select(pl.date_ranges("first", "last").explode().alias("date")).select(DATE_COLUMNS)
