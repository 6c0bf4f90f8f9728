"""Conformed dimensions: customer, product, date. Each has an unknown member (key -1)."""

import dagster as dg
import polars as pl

from lakehouse import CODE_VERSION
from lakehouse.curated.contracts import DimCustomerContract, DimDateContract, DimProductContract
from lakehouse.curated.keys import UNKNOWN_KEY, date_key
from lakehouse.quality.contract import enforced
from lakehouse.storage import write_spec

CURATED = {"group_name": "curated", "kinds": {"delta", "polars"}, "code_version": CODE_VERSION}


def _with_unknown_member(dim: pl.LazyFrame, key: str) -> pl.LazyFrame:
    member = pl.LazyFrame({key: [UNKNOWN_KEY]}, schema={key: pl.Int64})
    return pl.concat([member, dim], how="diagonal_relaxed")


@dg.asset(
    key=["curated", "dim_customer"],
    ins={"customers": dg.AssetIn(["refined", "customers"])},
    description="Customer dimension: one row per customer plus the unknown member (key -1). No direct PII.",
    metadata={**write_spec.overwrite(), **enforced(DimCustomerContract), "grain": "customer"},
    **CURATED,
)
def dim_customer(customers: pl.LazyFrame) -> pl.LazyFrame:
    dim = customers.select(
        pl.col("customer_id").alias("customer_key"),
        "customer_id",
        "email_hash",
        "country",
        pl.col("signup_at").dt.date().alias("signup_date"),
        "updated_at",
        "_refined_at",
    )
    return _with_unknown_member(dim, "customer_key").with_columns(
        pl.col("customer_id").fill_null(UNKNOWN_KEY), pl.col("country").fill_null("unknown")
    )


@dg.asset(
    key=["curated", "dim_product"],
    ins={"products": dg.AssetIn(["refined", "products"])},
    description="Product dimension: one row per product plus the unknown member (key -1).",
    metadata={**write_spec.overwrite(), **enforced(DimProductContract), "grain": "product"},
    **CURATED,
)
def dim_product(products: pl.LazyFrame) -> pl.LazyFrame:
    dim = products.select(
        pl.col("product_id").alias("product_key"),
        "product_id",
        "sku",
        "name",
        "category",
        pl.col("unit_price").alias("list_price_usd"),
        "updated_at",
        "_refined_at",
    )
    return _with_unknown_member(dim, "product_key").with_columns(
        pl.col("product_id").fill_null(UNKNOWN_KEY), pl.col("category").fill_null("unknown")
    )


@dg.asset(
    key=["curated", "dim_date"],
    ins={
        "orders": dg.AssetIn(["refined", "orders"]),
        "payments": dg.AssetIn(["refined", "payments"]),
    },
    description="Calendar dimension: every day from the first order to the last order or settlement.",
    metadata={**write_spec.overwrite(), **enforced(DimDateContract), "grain": "day"},
    **CURATED,
)
def dim_date(orders: pl.LazyFrame, payments: pl.LazyFrame) -> pl.LazyFrame:
    days = pl.concat(
        [
            orders.select(day=pl.col("order_date")),
            payments.select(day=pl.col("settled_at").dt.date()),
        ]
    ).select(first=pl.col("day").min(), last=pl.col("day").max())
    return days.select(pl.date_ranges("first", "last").explode().alias("date")).select(
        date_key(pl.col("date")).alias("date_key"),
        "date",
        pl.col("date").dt.year().alias("year"),
        pl.col("date").dt.quarter().alias("quarter"),
        pl.col("date").dt.month().alias("month"),
        pl.col("date").dt.strftime("%B").alias("month_name"),
        pl.col("date").dt.day().alias("day_of_month"),
        pl.col("date").dt.weekday().alias("day_of_week"),
        (pl.col("date").dt.weekday() >= 6).alias("is_weekend"),
    )
