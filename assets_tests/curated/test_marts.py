"""Daily sales: cancelled orders excluded, exact USD sums by day, category and country."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl

from lakehouse.curated.marts import mart_daily_sales
from lakehouse.storage.store import DeltaStore

MONEY = pl.Decimal(18, 2)
D1, D2 = date(2025, 1, 1), date(2025, 1, 2)
AT = datetime(2025, 1, 3, tzinfo=UTC)
CUSTOMERS = pl.LazyFrame(
    {"customer_key": [-1, 10, 11], "country": ["unknown", "DE", "US"], "_refined_at": [None, AT, AT]}
)
PRODUCTS = pl.LazyFrame(
    {"product_key": [-1, 7, 8], "category": ["unknown", "toys", "books"], "_refined_at": [None, AT, AT]}
)


def lines() -> pl.LazyFrame:
    rows = [
        # order, date, customer, product, status, quantity, gross, discount, net (USD)
        (1, D1, 10, 7, "placed", 3, "33.21", "1.08", "32.13"),
        (1, D1, 10, 7, "placed", 1, "5.40", "0.00", "5.40"),
        (2, D1, 10, 7, "delivered", 2, "10.00", "0.50", "9.50"),
        (3, D1, 10, 7, "cancelled", 5, "100.00", "0.00", "100.00"),
        (4, D1, 11, 8, "returned", 1, "7.00", "0.00", "7.00"),
        (5, D2, -1, -1, "placed", 1, "1.00", "0.00", "1.00"),
        (6, D2, 11, 8, "cancelled", 1, "2.00", "0.00", "2.00"),
    ]
    columns = ["order_id", "order_date", "customer_key", "product_key", "order_status", "quantity"]
    frame = pl.DataFrame(
        [r[:6] + tuple(Decimal(v) for v in r[6:]) for r in rows],
        schema={
            **dict.fromkeys(columns),
            "gross_usd": MONEY,
            "discount_usd": MONEY,
            "net_usd": MONEY,
        },
        orient="row",
    )
    return frame.lazy().with_columns(_built_at=pl.lit(AT))


def first_build(tmp_path, lines: pl.LazyFrame) -> pl.DataFrame:
    output = mart_daily_sales(
        store=DeltaStore(root=str(tmp_path)), lines=lines, customers=CUSTOMERS, products=PRODUCTS
    )
    return output.value.collect().select(pl.exclude("^_.*$"))


def test_daily_sales_excludes_cancelled_orders_and_sums_exactly(tmp_path):
    mart = first_build(tmp_path, lines())

    d = Decimal
    assert mart.rows() == [
        (D1, "books", "US", 1, 1, d("7.00"), d("0.00"), d("7.00")),
        (D1, "toys", "DE", 2, 6, d("48.61"), d("1.58"), d("47.03")),
        (D2, "unknown", "unknown", 1, 1, d("1.00"), d("0.00"), d("1.00")),
    ]
    assert mart.columns == [
        "order_date",
        "category",
        "country",
        "orders",
        "units",
        "gross_usd",
        "discount_usd",
        "net_usd",
    ]


def test_a_day_with_only_cancelled_orders_has_no_row(tmp_path):
    only_cancelled = lines().filter(pl.col("order_id") == 6)

    mart = first_build(tmp_path, only_cancelled)

    assert mart.height == 0
