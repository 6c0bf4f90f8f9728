"""Refined payments: parsed settlement lines, rescued lines quarantined, amounts in USD at the
rate of the settlement day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest

from lakehouse.quality.validation import ContractViolationError
from lakehouse.reference.currency import CURRENCIES
from lakehouse.refined.payments import PAYMENTS, PaymentContract, transform
from lakehouse.sources.landing import RESCUED_COLUMN

from .support import raw_frame, refine, rejected_rules, utc, valid_rows

FIELDS = ("payment_id", "order_id", "amount", "currency", "method", "settled_at")
RESCUED_LINE = "pay_4,4,12,50,EUR,card,2025-01-02T09:00:00Z"
# The rates of two days: a payment must take its settlement day's, not a neighbour's.
RATES = pl.LazyFrame(
    {
        "date": [date(2025, 1, 1)] * 3 + [date(2025, 1, 2)] * 3,
        "currency": ["CAD", "EUR", "USD"] * 2,
        "usd_rate": [Decimal(r) for r in ("0.7111", "1.0999", "1", "0.7345", "1.0812", "1")],
    },
    schema_overrides={"usd_rate": pl.Decimal(18, 6)},
)


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
    return refine(transform, PaymentContract, raw, {"exchange_rates": RATES})


def test_rescued_line_and_unparseable_time_are_rejected_lowercase_currency_is_not(checked):
    assert valid_rows(checked) == [1, 2, 3]
    assert rejected_rules(checked) == {
        4: [
            "_rescued_data:well_formed_line",
            "amount:not_nullable",
            "amount_usd:not_nullable",
            "currency:not_nullable",
            "order_id:not_nullable",
            "payment_id:not_nullable",
            "settled_at:not_nullable",
            "usd_rate:not_nullable",
        ],
        # no settlement day, so no rate of the day to convert with
        5: [
            "amount_usd:not_nullable",
            "settled_at:not_nullable",
            "settled_at:parseable",
            "usd_rate:not_nullable",
        ],
    }


def test_rescued_line_travels_whole_with_the_rejected_row(checked):
    row = checked.rejected.filter(pl.col("_row_number") == 4).row(0, named=True)
    assert row[RESCUED_COLUMN] == RESCUED_LINE


def test_amounts_are_exact_and_converted_to_usd_at_the_settlement_days_rate_rounded_once(checked):
    rows = checked.valid.sort("_row_number").select(
        "payment_id", "amount", "currency", "usd_rate", "amount_usd", "method", "settled_at"
    )
    assert rows.rows() == [
        # 12.34 x 1.0812 = 13.342008 -> 13.34; 7.50 x 0.7345 = 5.50875 -> 5.51
        ("pay_1", Decimal("12.34"), "EUR", Decimal("1.081200"), Decimal("13.34"), "card", utc(2025, 1, 2, 6)),
        (
            "pay_2",
            Decimal("100.00"),
            "USD",
            Decimal("1.000000"),
            Decimal("100.00"),
            "wire",
            utc(2025, 1, 2, 7),
        ),
        ("pay_3", Decimal("7.50"), "CAD", Decimal("0.734500"), Decimal("5.51"), None, utc(2025, 1, 2, 8)),
    ]
    assert (checked.valid.schema["amount_usd"], checked.valid.schema["usd_rate"]) == (
        pl.Decimal(18, 2),
        pl.Decimal(18, 6),
    )


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
        {"exchange_rates": RATES},
    )

    assert valid_rows(checked) == [1]
    assert rejected_rules(checked) == {
        2: ["amount_usd:not_nullable", f"currency:isin({CURRENCIES})", "usd_rate:not_nullable"]
    }


def test_a_payment_on_a_day_without_its_rate_stops_the_asset_naming_currency_and_day():
    """Not a bad record (nothing to quarantine) and never left unconverted: the rates are late."""
    late = payments([("pay_1", "101", "1.00", "EUR", "card", "2025-01-03T06:00:00Z")])

    with pytest.raises(ContractViolationError) as raised:
        refine(transform, PaymentContract, late, {"exchange_rates": RATES})

    message = str(raised.value)
    assert "currency:rate_of_the_day, settled_at:rate_of_the_day failed (severity fail)" in message
    assert "EUR" in message and "2025-01-03 06:00:00" in message


def test_the_rates_come_from_refined_exchange_rates():
    assert PAYMENTS.lookups == {"exchange_rates": dg.AssetKey(["refined", "exchange_rates"])}


def test_payments_are_keyed_by_payment_id_and_sequenced_by_settlement():
    assert (PAYMENTS.keys, PAYMENTS.sequence_column) == (("payment_id",), "settled_at")
