"""Refined payments: parsed settlement lines, rescued lines quarantined, amounts exact in their own
currency (USD conversion happens in curated/fact_payments)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from lakehouse.defs.refined.payments import PAYMENTS, PaymentContract, transform
from lakehouse.lib.currency import CURRENCIES
from lakehouse.sources.landing import RESCUED_COLUMN

from .support import raw_frame, refine, rejected_rules, utc, valid_rows

FIELDS = ("payment_id", "order_id", "amount", "currency", "method", "settled_at")
RESCUED_LINE = "pay_4,4,12,50,EUR,card,2025-01-02T09:00:00Z"


def payments(lines: list[tuple | str]) -> pl.DataFrame:
    """Rows as raw payments holds them: text fields, or a rescued line with every field null."""
    columns: dict[str, list] = {name: [] for name in (*FIELDS, RESCUED_COLUMN)}
    for line in lines:
        values = (None,) * len(FIELDS) + (line,) if isinstance(line, str) else (*line, None)
        for name, value in zip(columns, values, strict=True):
            columns[name].append(value)
    return raw_frame(columns, schema=dict.fromkeys(columns, pl.String))


@pytest.fixture(scope="module")
def checked():
    raw = payments(
        [
            ("pay_1", "101", " 12.34 ", "eur", "Card", "2025-01-02T06:00:00Z"),
            (" pay_2 ", "102", "100", "USD", "wire", "2025-01-02T07:00:00Z"),
            ("pay_3", "103", "7.50", "CAD", None, "2025-01-02T08:00:00Z"),
            RESCUED_LINE,
            ("pay_5", "105", "5.00", "GBP", "card", "2025-01-02"),  # no time: unparseable
        ]
    )
    return refine(transform, PaymentContract, raw)


def test_rescued_line_and_unparseable_time_are_rejected_lowercase_currency_is_not(checked):
    assert valid_rows(checked) == [1, 2, 3]
    assert rejected_rules(checked) == {
        4: [
            "_rescued_data:well_formed_line",
            "amount:not_nullable",
            "currency:not_nullable",
            "order_id:not_nullable",
            "payment_id:not_nullable",
            "settled_at:not_nullable",
        ],
        5: ["settled_at:not_nullable", "settled_at:parseable"],
    }


def test_rescued_line_travels_whole_with_the_rejected_row(checked):
    row = checked.rejected.filter(pl.col("_row_number") == 4).row(0, named=True)
    assert row[RESCUED_COLUMN] == RESCUED_LINE


def test_amounts_are_exact_in_their_currency_and_not_converted_here(checked):
    rows = checked.valid.sort("_row_number").select(
        "payment_id", "amount", "currency", "method", "settled_at"
    )
    assert rows.rows() == [
        ("pay_1", Decimal("12.34"), "EUR", "card", utc(2025, 1, 2, 6)),
        ("pay_2", Decimal("100.00"), "USD", "wire", utc(2025, 1, 2, 7)),
        ("pay_3", Decimal("7.50"), "CAD", None, utc(2025, 1, 2, 8)),
    ]
    assert checked.valid.schema["amount"] == pl.Decimal(18, 2)
    assert not {"usd_rate", "amount_usd"} & set(checked.valid.columns)


def test_unknown_currency_is_quarantined_not_fatal():
    """The contract declares `isin: drop`: an unknown currency must go to quarantine."""
    checked = refine(
        transform,
        PaymentContract,
        payments(
            [
                ("pay_1", "101", "1.00", "USD", "card", "2025-01-02T06:00:00Z"),
                ("pay_2", "102", "1.00", "XYZ", "card", "2025-01-02T06:00:00Z"),
            ]
        ),
    )

    assert valid_rows(checked) == [1]
    assert rejected_rules(checked) == {2: [f"currency:isin({CURRENCIES})"]}


def test_payments_need_no_exchange_rates_to_refine():
    """A payment settled on a day without rates yet is refined; the fact converts it later."""
    assert PAYMENTS.lookups == {}


def test_payments_are_keyed_by_payment_id_and_sequenced_by_settlement():
    assert (PAYMENTS.keys, PAYMENTS.sequence_column) == (("payment_id",), "settled_at")


def test_a_settlement_time_outside_the_plausible_window_is_quarantined(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_SHOP_OPENED", "2025-01-10")
    monkeypatch.setenv("LAKEHOUSE_PLAUSIBLE_SLACK_DAYS", "7")
    raw = payments(
        [
            ("pay_1", "101", "1.00", "EUR", "card", "2025-01-02T23:59:59Z"),  # 8 days before it opened
            ("pay_2", "102", "1.00", "EUR", "card", "2025-01-03T00:00:00Z"),  # 7 days before: plausible
            ("pay_3", "103", "1.00", "EUR", "card", "9999-12-31T00:00:00Z"),
        ]
    )

    checked = refine(transform, PaymentContract, raw)

    assert valid_rows(checked) == [2]
    assert rejected_rules(checked) == {1: ["settled_at:plausible_time"], 3: ["settled_at:plausible_time"]}
