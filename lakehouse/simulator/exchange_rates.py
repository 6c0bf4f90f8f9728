"""Daily currency -> USD rates: a small random walk around the static rates, from a seed.

A plain random walk needs a fixed first day and drifts without bound. Instead a rate's relative
deviation from its static rate is the sum of the last `WINDOW` daily steps: from one day to the
next it moves by one new step minus the step that left the window, like a walk, yet stays within
a few percent of the static rate. So a day's rate depends only on (seed, currency, the `WINDOW`
days up to it): every date range gives the same rate for the same day.

Steps are integers (in `1 / STEP_SCALE` of the rate) drawn per block of `BLOCK_DAYS` days from
`np.random.default_rng([seed, STREAM, block])`, so sums are exact and no float ever depends on
the range asked for. Rates are rounded to four decimals (see `lakehouse.lib.currency`);
USD is exactly 1.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from lakehouse.lib.currency import USD_RATES
from lakehouse.simulator.state import Params

WINDOW = 30  # days of steps summed into a day's deviation
STEP_SCALE = 100_000  # steps are in 1/100,000 of the rate
STEP_SD = 200  # one day's step: about 0.2 %; the deviation's spread: about 1.1 %
BLOCK_DAYS = 365
STREAM = 200  # the model draws from streams below 100, the defects from 100 on
TEN_THOUSANDTHS = 10_000
RATE_SCALE = 4  # decimals of a published rate
CURRENCIES = sorted(USD_RATES)
FLOATING = [c for c in CURRENCIES if c != "USD"]


def daily_rates(start: date, end: date, seed: int = 42) -> pl.DataFrame:
    """One row per day in [start, end] and currency: `date`, `currency`, `usd_rate` (4 decimals).

    Sorted by date, then currency; empty when `end` is before `start`.
    """
    days = max((end - start).days + 1, 0)
    steps = _steps(seed, start.toordinal() - WINDOW + 1, days + WINDOW - 1)
    totals = np.cumsum(np.vstack([np.zeros((1, len(FLOATING)), np.int64), steps]), axis=0)
    deviation = totals[WINDOW:] - totals[:-WINDOW]  # each day: the sum of its window's steps
    static = np.array([int(USD_RATES[c] * TEN_THOUSANDTHS) for c in FLOATING])
    floating = np.rint(static * (1 + deviation / STEP_SCALE)).astype(np.int64)
    units = {c: floating[:, i] for i, c in enumerate(FLOATING)} | {"USD": np.full(days, TEN_THOUSANDTHS)}
    return (
        pl.DataFrame({"date": pl.date_range(start, start + timedelta(days=days - 1), eager=True)} | units)
        .unpivot(index="date", variable_name="currency", value_name="units")
        .sort("date", "currency")
        .select("date", "currency", _as_decimal(pl.col("units")).alias("usd_rate"))
    )


def simulated_days(params: Params) -> tuple[date, date]:
    """The first and the last day the simulated shop has lived: the days it has rates for."""
    return params.start, params.start + timedelta(days=params.days - 1)


def simulation_rates(params: Params) -> pl.DataFrame:
    """The rates of every day of the simulation, for its seed (what the lakehouse converts with)."""
    return daily_rates(*simulated_days(params), params.seed)


def _steps(seed: int, first_ordinal: int, count: int) -> np.ndarray:
    """Integer steps of the floating currencies for `count` days from `first_ordinal`, shape (count, n)."""
    first_block, last_block = first_ordinal // BLOCK_DAYS, (first_ordinal + count - 1) // BLOCK_DAYS
    drawn = np.vstack(
        [
            np.rint(
                np.random.default_rng([seed, STREAM, block]).normal(0, STEP_SD, (BLOCK_DAYS, len(FLOATING)))
            )
            for block in range(first_block, last_block + 1)
        ]
    ).astype(np.int64)
    offset = first_ordinal - first_block * BLOCK_DAYS
    return drawn[offset : offset + count]


def _as_decimal(units: pl.Expr) -> pl.Expr:
    """Ten-thousandths as an exact Decimal (via text: a float would round 1.0812 to 1.0811999…)."""
    text = (
        (units // TEN_THOUSANDTHS).cast(pl.String)
        + "."
        + (units % TEN_THOUSANDTHS).cast(pl.String).str.zfill(RATE_SCALE)
    )
    return text.cast(pl.Decimal(18, RATE_SCALE))
