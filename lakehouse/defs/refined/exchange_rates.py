"""Refined exchange rates: one USD rate per day and currency, the source of every USD conversion.

A restated rate (the same day and currency ingested again) replaces the older one: the merge's
sequence is the day, so the later ingestion wins (see `write_spec.merge`).
"""

from __future__ import annotations

from decimal import Decimal

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from lakehouse.defs.refined.refine import RefinedTable, TransformContext
from lakehouse.lib.cleansing import code
from lakehouse.lib.columns import RAW_LINEAGE
from lakehouse.lib.currency import CURRENCIES, RATE_DECIMALS
from lakehouse.lib.quality.contract import Contract, Rate


class ExchangeRateContract(Contract):
    date: pl.Date = pa.Field(nullable=False, description="The day the rate applies to.")
    currency: pl.String = pa.Field(nullable=False, isin=CURRENCIES, description="ISO currency code.")
    usd_rate: Rate = pa.Field(nullable=False, gt=0, description="USD per unit of the currency that day.")

    @pa.check("usd_rate", name="four_decimals")
    def four_decimals(cls, data: PolarsData) -> pl.LazyFrame:
        """At most four decimals, so that amount x rate is exact (see `reference.currency`)."""
        return data.lazyframe.select(pl.col(data.key).round(RATE_DECIMALS) == pl.col(data.key))

    @pa.check("usd_rate", name="usd_is_one")
    def usd_is_one(cls, data: PolarsData) -> pl.LazyFrame:
        """A US dollar is worth exactly one US dollar."""
        return data.lazyframe.select((pl.col("currency") != "USD") | (pl.col(data.key) == Decimal(1)))

    class Config(Contract.Config):
        metadata = {
            "severity": {
                "not_nullable": "drop",
                "isin": "drop",
                "greater_than": "drop",
                "four_decimals": "drop",
                "usd_is_one": "drop",
            }
        }


def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
    return raw.select(pl.col("date"), code("currency"), pl.col("usd_rate"), *RAW_LINEAGE)


EXCHANGE_RATES = RefinedTable(
    name="exchange_rates",
    keys=("date", "currency"),
    contract=ExchangeRateContract,
    transform=transform,
    description="Exchange rates: one USD rate per day and currency, the rate every conversion uses.",
    sequence_column="date",
)
