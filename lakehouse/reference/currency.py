"""Currencies the shop sells in, their static rates to USD, and the one USD conversion rule.

The rates have at most four decimals so that `amount (2 dp) x rate` is exact at six decimals;
each converted amount is then rounded to cents once, so totals add up exactly.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

MONEY = pl.Decimal(18, 2)
RATE = pl.Decimal(18, 6)
_EXACT = pl.Decimal(38, 6)

USD_RATES: dict[str, Decimal] = {
    "USD": Decimal("1.0000"),
    "EUR": Decimal("1.0800"),
    "GBP": Decimal("1.2700"),
    "CAD": Decimal("0.7300"),
    "AUD": Decimal("0.6600"),
}


def usd_rates() -> pl.LazyFrame:
    """The static rate table: one row per currency code with its USD rate."""
    return pl.LazyFrame(
        {"currency": list(USD_RATES), "usd_rate": list(USD_RATES.values())},
        schema={"currency": pl.String, "usd_rate": RATE},
    )


def to_usd(amount: pl.Expr, usd_rate: pl.Expr) -> pl.Expr:
    """Convert a money amount to USD, rounded to cents."""
    return (amount.cast(_EXACT) * usd_rate.cast(_EXACT)).round(2).cast(MONEY)
