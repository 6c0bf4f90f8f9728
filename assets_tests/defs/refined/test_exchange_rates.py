"""Refined exchange rates: one rate per day and currency; unknown currencies, non-positive rates,
rates with more than four decimals and a US dollar not worth exactly one are quarantined."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from lakehouse.defs.refined.exchange_rates import EXCHANGE_RATES, ExchangeRateContract, transform

from .support import raw_frame, refine, rejected_rules, valid_rows

DAY = date(2025, 1, 2)


def test_good_rates_pass_and_each_broken_rule_quarantines_its_row():
    rows = [
        ("USD", "1"),
        (" eur", "1.0812"),  # normalised, like every currency code
        ("XYZ", "2"),
        ("GBP", "0"),
        ("CAD", "0.73451"),
        ("USD", "1.0001"),
    ]
    raw = raw_frame(
        {
            "date": [DAY] * len(rows),
            "currency": [c for c, _ in rows],
            "usd_rate": [Decimal(r) for _, r in rows],
        },
        schema={"usd_rate": pl.Decimal(18, 6)},
    )

    checked = refine(transform, ExchangeRateContract, raw)

    assert valid_rows(checked) == [1, 2]
    assert checked.valid.sort("_row_number").select("currency", "usd_rate").rows() == [
        ("USD", Decimal("1.000000")),
        ("EUR", Decimal("1.081200")),
    ]
    assert rejected_rules(checked) == {
        3: ["currency:isin(['USD', 'EUR', 'GBP', 'CAD', 'AUD'])"],
        4: ["usd_rate:greater_than(0)"],
        5: ["usd_rate:four_decimals"],
        6: ["usd_rate:usd_is_one"],
    }


def test_rates_are_keyed_by_day_and_currency_and_sequenced_by_day():
    assert (EXCHANGE_RATES.keys, EXCHANGE_RATES.sequence_column) == (("date", "currency"), "date")
    assert EXCHANGE_RATES.raw_key.path == ["raw", "exchange_rates"]
