"""Simulated daily USD rates: one per day and currency, near the static rates, the same for any range."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from lakehouse.lib.currency import USD_RATES
from lakehouse.simulator.exchange_rates import daily_rates, simulated_days, simulation_rates
from lakehouse.simulator.state import Params

Q1 = (date(2025, 1, 1), date(2025, 3, 31))  # 90 days


def test_one_rate_per_day_and_currency_in_order():
    rates = daily_rates(*Q1, seed=42)

    assert rates.schema == pl.Schema({"date": pl.Date, "currency": pl.String, "usd_rate": pl.Decimal(18, 4)})
    assert rates.height == 90 * 5
    assert rates.select(pl.struct("date", "currency").n_unique()).item() == 450
    assert rates.equals(rates.sort("date", "currency"))
    assert set(rates["currency"]) == set(USD_RATES)
    assert (rates["date"].min(), rates["date"].max()) == Q1


def test_known_values_pin_the_walk():
    first_day = daily_rates(date(2025, 1, 1), date(2025, 1, 1), seed=42)
    assert dict(first_day.select("currency", "usd_rate").rows()) == {
        "AUD": Decimal("0.6520"),
        "CAD": Decimal("0.7389"),
        "EUR": Decimal("1.0648"),
        "GBP": Decimal("1.2899"),
        "USD": Decimal("1.0000"),
    }


def test_usd_is_exactly_one_every_day():
    usd = daily_rates(*Q1, seed=42).filter(pl.col("currency") == "USD")
    assert usd.height == 90
    assert usd["usd_rate"].unique().to_list() == [Decimal("1.0000")]


def test_same_seed_same_rates_other_seed_other_rates():
    assert daily_rates(*Q1, seed=42).equals(daily_rates(*Q1, seed=42))
    assert not daily_rates(*Q1, seed=42).equals(daily_rates(*Q1, seed=7))


def test_a_day_has_the_same_rate_whatever_range_asks_for_it():
    whole = daily_rates(date(2025, 12, 1), date(2026, 1, 31), seed=42)  # across a block of draws
    parts = pl.concat(
        [
            daily_rates(date(2025, 12, 1), date(2025, 12, 30), seed=42),
            daily_rates(date(2025, 12, 31), date(2026, 1, 1), seed=42),
            daily_rates(date(2026, 1, 2), date(2026, 1, 31), seed=42),
        ]
    )
    assert whole.equals(parts)


def test_rates_wander_a_little_around_the_static_rates():
    rates = daily_rates(date(2025, 1, 1), date(2025, 12, 31), seed=42).with_columns(
        static=pl.col("currency").replace_strict(USD_RATES, return_dtype=pl.Decimal(18, 4))
    )
    deviation = (pl.col("usd_rate").cast(pl.Float64) / pl.col("static").cast(pl.Float64) - 1).abs()
    daily_move = (pl.col("usd_rate").cast(pl.Float64).pct_change().over("currency")).abs()
    stats = rates.sort("currency", "date").select(
        deviation.max().alias("max_deviation"),
        daily_move.max().alias("max_daily_move"),
        pl.col("usd_rate").filter(pl.col("currency") == "EUR").n_unique().alias("eur_values"),
    )
    assert stats["max_deviation"].item() < 0.10
    assert stats["max_daily_move"].item() < 0.02
    assert stats["eur_values"].item() > 100  # it moves


def test_empty_when_the_range_is_empty():
    rates = daily_rates(date(2025, 1, 2), date(2025, 1, 1), seed=42)
    assert rates.height == 0
    assert rates.columns == ["date", "currency", "usd_rate"]


def test_a_simulation_has_the_rates_of_every_day_it_has_lived():
    params = Params(scale=0.01, seed=3, start=date(2025, 1, 1), days=90)

    assert simulated_days(params) == Q1
    assert simulation_rates(params).equals(daily_rates(*Q1, seed=3))
