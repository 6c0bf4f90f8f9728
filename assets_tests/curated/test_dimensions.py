"""Dimensions: one row per member plus the unknown member (key -1); a gap-free calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl

from lakehouse.curated.dimensions import dim_customer, dim_date, dim_product

AT = datetime(2025, 1, 2, 6, tzinfo=UTC)


def test_dim_customer_has_the_unknown_member_and_no_clear_text_pii():
    customers = pl.LazyFrame(
        {
            "customer_id": [10, 11],
            "email_hash": ["h10", "h11"],
            "first_name": ["Ann", "Bo"],
            "last_name": ["Lee", "Ng"],
            "country": ["DE", None],
            "signup_at": [datetime(2024, 12, 31, 23, 30, tzinfo=UTC), AT],
            "updated_at": [AT, AT],
            "_refined_at": [AT, AT],
        }
    )

    dim = dim_customer(customers=customers).collect().sort("customer_key")

    assert dim.select("customer_key", "customer_id", "email_hash", "country", "signup_date").rows() == [
        (-1, -1, None, "unknown", None),
        (10, 10, "h10", "DE", date(2024, 12, 31)),
        (11, 11, "h11", "unknown", date(2025, 1, 2)),
    ]
    assert not {"first_name", "last_name", "email"} & set(dim.columns)


def test_dim_product_has_the_unknown_member_and_usd_list_price():
    products = pl.LazyFrame(
        {
            "product_id": [7],
            "sku": ["SKU-7"],
            "name": ["Mug"],
            "category": ["kitchen"],
            "unit_price": [Decimal("12.50")],
            "updated_at": [AT],
            "_refined_at": [AT],
        },
        schema_overrides={"unit_price": pl.Decimal(18, 2)},
    )

    dim = dim_product(products=products).collect().sort("product_key")

    assert dim.select("product_key", "product_id", "category", "list_price_usd").rows() == [
        (-1, -1, "unknown", None),
        (7, 7, "kitchen", Decimal("12.50")),
    ]


def test_dim_date_spans_first_order_to_last_order_or_settlement_without_gaps():
    orders = pl.LazyFrame({"order_date": [date(2025, 2, 28), date(2025, 3, 1)]})
    payments = pl.LazyFrame({"settled_at": [datetime(2025, 3, 2, 23, 59, tzinfo=UTC)]})

    dim = dim_date(orders=orders, payments=payments).collect()

    assert dim.select(
        "date_key", "year", "quarter", "month", "month_name", "day_of_month", "day_of_week", "is_weekend"
    ).rows() == [
        (20250228, 2025, 1, 2, "February", 28, 5, False),
        (20250301, 2025, 1, 3, "March", 1, 6, True),
        (20250302, 2025, 1, 3, "March", 2, 7, True),
    ]
