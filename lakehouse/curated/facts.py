"""Facts: order lines and payments, money in USD, keyed to the dimensions."""

import dagster as dg
import polars as pl

from lakehouse.curated.dimensions import CURATED
from lakehouse.curated.keys import date_key, lookup_key
from lakehouse.reference.currency import MONEY, to_usd, usd_rates
from lakehouse.storage import write_spec

ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "order_at",
    "order_date",
    "status",
    "currency",
    "channel",
)


def order_lines(items: pl.LazyFrame, orders: pl.LazyFrame) -> pl.LazyFrame:
    """Order lines with their order's header and money in local currency and USD.

    A line whose order is not refined (its header is in quarantine) is held back, not guessed.
    """
    gross = (pl.col("quantity") * pl.col("unit_price")).cast(MONEY)
    return (
        items.join(orders.select(ORDER_COLUMNS), on="order_id", how="inner")
        .join(usd_rates(), on="currency", how="left")
        .with_columns(gross.alias("gross_amount"), pl.col("discount").alias("discount_amount"))
        .with_columns(
            (pl.col("gross_amount") - pl.col("discount_amount")).cast(MONEY).alias("net_amount"),
            to_usd(pl.col("gross_amount"), pl.col("usd_rate")).alias("gross_usd"),
            to_usd(pl.col("discount_amount"), pl.col("usd_rate")).alias("discount_usd"),
        )
        .with_columns((pl.col("gross_usd") - pl.col("discount_usd")).cast(MONEY).alias("net_usd"))
    )


@dg.asset(
    key=["curated", "fact_order_items"],
    ins={
        "items": dg.AssetIn(["refined", "order_items"]),
        "orders": dg.AssetIn(["refined", "orders"]),
        "customers": dg.AssetIn(["curated", "dim_customer"]),
        "products": dg.AssetIn(["curated", "dim_product"]),
    },
    description="Order lines (grain: one order line): gross, discount and net in local currency and USD.",
    metadata={
        **write_spec.overwrite(),
        "grain": "order line",
        "business_keys": ["order_id", "line_no"],
    },
    **CURATED,
)
def fact_order_items(
    items: pl.LazyFrame, orders: pl.LazyFrame, customers: pl.LazyFrame, products: pl.LazyFrame
) -> pl.LazyFrame:
    lines = order_lines(items, orders)
    lines = lookup_key(lines, customers, "customer_id", "customer_key")
    lines = lookup_key(lines, products, "product_id", "product_key")
    return lines.select(
        "order_id",
        "line_no",
        date_key(pl.col("order_date")).alias("order_date_key"),
        "order_date",
        "order_at",
        "customer_key",
        "product_key",
        pl.col("status").alias("order_status"),
        "channel",
        "currency",
        "quantity",
        "unit_price",
        "gross_amount",
        "discount_amount",
        "net_amount",
        "usd_rate",
        "gross_usd",
        "discount_usd",
        "net_usd",
    )


@dg.asset(
    key=["curated", "fact_payments"],
    ins={"payments": dg.AssetIn(["refined", "payments"])},
    description="Settled payments (grain: one payment), amount in its currency and in USD.",
    metadata={**write_spec.overwrite(), "grain": "payment", "business_keys": ["payment_id"]},
    **CURATED,
)
def fact_payments(payments: pl.LazyFrame) -> pl.LazyFrame:
    return payments.select(
        "payment_id",
        "order_id",
        date_key(pl.col("settled_at")).alias("settled_date_key"),
        "settled_at",
        "method",
        "currency",
        "amount",
        "amount_usd",
    )
