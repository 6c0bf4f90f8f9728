"""Refined products: list prices as Decimal(18, 2), missing or negative prices quarantined."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from lakehouse.defs.refined.products import PRODUCTS, ProductContract, transform

from .support import raw_frame, refine, rejected_rules, utc, valid_rows


@pytest.fixture(scope="module")
def checked():
    raw = raw_frame(
        {
            "product_id": [1, 2, 3, 4, None],
            "sku": [" SKU-1 ", "SKU-2", "SKU-3", "SKU-4", "SKU-5"],
            "name": ["Mug", "Lamp", "Desk", "Pen", "Cup"],
            "category": [" Kitchen ", "home", "home", "OFFICE", "kitchen"],
            "unit_price": [12.344, None, -0.01, 10.006, 1.0],
            "updated_at": ["2025-01-02T06:00:00.250000Z", *["2025-01-02T06:00:00.000000Z"] * 4],
            "deleted_at": [None, None, None, "2025-01-02T06:00:00.000000Z", None],
        },
        schema={"product_id": pl.Int64, "unit_price": pl.Float64},
    )
    return refine(transform, ProductContract, raw)


def test_missing_and_negative_prices_and_null_ids_are_rejected(checked):
    assert valid_rows(checked) == [1, 4]
    assert rejected_rules(checked) == {
        2: ["unit_price:not_nullable"],
        3: ["unit_price:greater_than_or_equal_to(0)"],
        5: ["product_id:not_nullable"],
    }


def test_prices_are_rounded_to_cents_as_decimal(checked):
    assert checked.valid.schema["unit_price"] == pl.Decimal(18, 2)
    assert checked.valid.sort("_row_number").get_column("unit_price").to_list() == [
        Decimal("12.34"),
        Decimal("10.01"),
    ]


def test_text_is_trimmed_and_categories_lower_cased(checked):
    rows = checked.valid.sort("_row_number").select("sku", "category", "updated_at").rows()
    assert rows == [
        ("SKU-1", "kitchen", utc(2025, 1, 2, 6, 0, 0, 250000)),
        ("SKU-4", "office", utc(2025, 1, 2, 6, 0)),
    ]


def test_a_deleted_product_stays_valid_with_its_deletion_time(checked):
    rows = checked.valid.sort("_row_number").select("product_id", "deleted_at").rows()
    assert rows == [(1, None), (4, utc(2025, 1, 2, 6, 0))]


def test_products_table_is_keyed_by_product_id_and_sequenced_by_update_time():
    assert (PRODUCTS.keys, PRODUCTS.sequence_column) == (("product_id",), "updated_at")
