"""Currencies the shop sells in, and the one USD conversion rule: the rate of the day.

Money is converted with the currency's USD rate of the day the money moved (an order's day, a
payment's settlement day), from `refined/exchange_rates`. Rates have at most four decimals so
that `amount (2 dp) x rate` is exact at six decimals; each converted amount is then rounded to
cents once, so totals add up exactly.

`USD_RATES` are reference rates, not a conversion source: the simulator prices the catalogue
with them and its daily rates move around them. Validation needs only the codes (`CURRENCIES`).
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

MONEY = pl.Decimal(18, 2)
RATE = pl.Decimal(18, 6)
RATE_DECIMALS = 4  # a rate with more would make amount x rate inexact at six decimals
_EXACT = pl.Decimal(38, 6)
_RATE_DAY = "_rate_date"

USD_RATES: dict[str, Decimal] = {
    "USD": Decimal("1.0000"),
    "EUR": Decimal("1.0800"),
    "GBP": Decimal("1.2700"),
    "CAD": Decimal("0.7300"),
    "AUD": Decimal("0.6600"),
}
CURRENCIES: list[str] = list(USD_RATES)


def with_rate_of_day(frame: pl.LazyFrame, rates: pl.LazyFrame, day: pl.Expr) -> pl.LazyFrame:
    """`frame` with `usd_rate`: its currency's rate on `day` (null when there is none), in row order.

    `rates` has one row per `date` and `currency` with its `usd_rate`; its other columns are ignored.
    """
    keyed = rates.select(pl.col("date").alias(_RATE_DAY), "currency", pl.col("usd_rate").cast(RATE))
    return (
        frame.with_columns(day.alias(_RATE_DAY))
        .join(keyed, on=[_RATE_DAY, "currency"], how="left", maintain_order="left")
        .drop(_RATE_DAY)
    )


def to_usd(amount: pl.Expr, usd_rate: pl.Expr) -> pl.Expr:
    """Convert a money amount to USD, rounded to cents."""
    return (amount.cast(_EXACT) * usd_rate.cast(_EXACT)).round(2).cast(MONEY)
