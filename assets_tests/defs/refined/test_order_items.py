"""Refined order lines: positive quantities, non-negative money, only products the shop has."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from lakehouse.defs.refined.order_items import KNOWN_PRODUCT, ORDER_ITEMS, OrderItemContract, transform

from .support import raw_frame, refine, rejected_rules, valid_rows

RAW_PRODUCTS = pl.LazyFrame({"product_id": [7, 8, 8]})  # every product version ever extracted
TYPES = {
    "order_id": pl.Int64,
    "line_no": pl.Int64,
    "product_id": pl.Int64,
    "quantity": pl.Int64,
    "unit_price": pl.Float64,
    "discount": pl.Float64,
}


@pytest.fixture(scope="module")
def checked():
    raw = raw_frame(
        {
            "order_id": [1, 1, 2, 3, 4, 5, 6],
            "line_no": [1, 2, 1, 1, 1, 1, 1],
            "product_id": [7, 8, 7, 9_000_001, None, 7, 8],
            "quantity": [3, 1, -2, 1, 1, 0, 2],
            "unit_price": [10.25, 4.999, 1.0, 1.0, 1.0, 1.0, 1.0],
            "discount": [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5],
            "updated_at": ["2025-01-02T06:00:00.000000Z"] * 7,
        },
        schema=TYPES,
    )
    return refine(transform, OrderItemContract, raw, {"raw_products": RAW_PRODUCTS})


def test_each_defective_line_is_rejected_with_exactly_its_rules(checked):
    assert valid_rows(checked) == [1, 2]
    assert rejected_rules(checked) == {
        3: ["quantity:positive_quantity"],
        4: ["product_id:known_product"],
        5: ["product_id:known_product", "product_id:not_nullable"],
        6: ["quantity:positive_quantity"],  # zero is not positive
        7: ["discount:greater_than_or_equal_to(0)"],
    }


def test_money_is_decimal_rounded_to_cents(checked):
    rows = checked.valid.sort("_row_number").select("unit_price", "discount").rows()
    assert rows == [(Decimal("10.25"), Decimal("1.00")), (Decimal("5.00"), Decimal("0.00"))]
    assert checked.valid.schema["unit_price"] == pl.Decimal(18, 2)


def test_catalogue_lookup_keeps_one_row_per_line(checked):
    """The raw products hold product 8 twice: the join must not duplicate order lines."""
    assert checked.valid.height + checked.rejected.height == 7
    assert checked.valid.get_column(KNOWN_PRODUCT).to_list() == [True, True]


def test_order_items_read_raw_products_as_their_catalogue():
    assert ORDER_ITEMS.keys == ("order_id", "line_no")
    assert ORDER_ITEMS.lookups["raw_products"].path == ["raw", "products"]
    assert KNOWN_PRODUCT not in ORDER_ITEMS.output_columns
