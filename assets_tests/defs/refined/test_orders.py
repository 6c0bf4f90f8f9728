"""Refined orders: UTC order time and date, ISO currency codes, known statuses."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from lakehouse.defs.refined.orders import STATUSES, OrderContract, transform
from lakehouse.lib.currency import USD_RATES

from .support import raw_frame, refine, rejected_rules, utc, valid_rows

UPDATED = "2025-01-02T06:00:00.000000Z"


def orders(**columns: list) -> pl.DataFrame:
    n = len(columns["order_id"])
    defaults = {
        "customer_id": [10] * n,
        "order_at": ["2025-01-01T12:00:00+00:00"] * n,
        "status": ["placed"] * n,
        "currency": ["USD"] * n,
        "channel": ["web"] * n,
        "updated_at": [UPDATED] * n,
    }
    return raw_frame(defaults | columns, schema={"order_id": pl.Int64, "customer_id": pl.Int64})


@pytest.fixture(scope="module")
def checked():
    raw = orders(
        order_id=[1, 2, 3, 4],
        customer_id=[10, None, 11, 12],
        order_at=[
            "2025-01-01T00:30:00+02:00",  # the previous day in UTC
            "2025-01-01T10:00:00+00:00",
            "2025-01-01T21:45:00-05:00",  # the next day in UTC
            "2025-03-01T10:15:00+05:30",
        ],
        status=["Placed", "placed", " DELIVERED ", "returned"],
        currency=["eur", "USD", " gbp ", "CAD"],
        channel=["Web", "app", "web", None],
    )
    return refine(transform, OrderContract, raw)


def test_null_customer_is_rejected_and_lowercase_currency_is_normalised_not_rejected(checked):
    assert valid_rows(checked) == [1, 3, 4]
    assert rejected_rules(checked) == {2: ["customer_id:not_nullable"]}


def test_order_time_is_converted_to_utc_and_dated_in_utc(checked):
    rows = checked.valid.sort("_row_number").select("order_at", "order_date", "status", "currency", "channel")
    assert rows.rows() == [
        (utc(2024, 12, 31, 22, 30), date(2024, 12, 31), "placed", "EUR", "web"),
        (utc(2025, 1, 2, 2, 45), date(2025, 1, 2), "delivered", "GBP", "web"),
        (utc(2025, 3, 1, 4, 45), date(2025, 3, 1), "returned", "CAD", None),
    ]
    assert checked.valid.schema["order_at"] == pl.Datetime("us", "UTC")


def test_unknown_status_is_quarantined_not_fatal():
    """The contract declares `isin: drop`: an unknown status must go to quarantine, not stop the asset."""
    checked = refine(transform, OrderContract, orders(order_id=[1, 2], status=["placed", "shipped"]))

    assert valid_rows(checked) == [1]
    assert rejected_rules(checked) == {2: [f"status:isin({STATUSES})"]}


def test_unknown_currency_is_quarantined_not_fatal():
    checked = refine(transform, OrderContract, orders(order_id=[1, 2], currency=["usd", "XYZ"]))

    assert valid_rows(checked) == [1]
    assert rejected_rules(checked) == {2: [f"currency:isin({list(USD_RATES)})"]}


def test_orders_dated_in_year_1_or_9999_are_quarantined_as_implausible_times():
    """Issue 13: they were accepted, then vanished from the facts (no rate of their day) and grew
    dim_date to 3.6 million days."""
    raw = orders(
        order_id=[1, 2, 3],
        order_at=["0001-01-01T00:00:00+00:00", "2025-06-01T10:00:00+00:00", "9999-12-31T23:59:59+00:00"],
    )

    checked = refine(transform, OrderContract, raw)

    assert valid_rows(checked) == [2]
    assert rejected_rules(checked) == {1: ["order_at:plausible_time"], 3: ["order_at:plausible_time"]}
