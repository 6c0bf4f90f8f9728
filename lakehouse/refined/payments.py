"""Refined payments: parsed settlement lines, amounts converted to USD at the settlement day's rate.

A payment in a known currency whose settlement day has no rate in `refined/exchange_rates` stops
the asset (rule `rate_of_the_day`, severity fail, naming the currency and the settlement time)
rather than being quarantined or left unconverted: it is not a bad record, the rates are late.
The refine watermark does not move, so the next run refines it once the day's rates are in.
"""

from __future__ import annotations

import dagster as dg
import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from lakehouse.quality.contract import Contract, Money, Rate, UtcTimestamp
from lakehouse.reference.currency import CURRENCIES, to_usd, with_rate_of_day
from lakehouse.refined.cleansing import LINEAGE, code, integer, money_text, trimmed, utc_from_zulu
from lakehouse.refined.refine import RefinedTable, TransformContext
from lakehouse.sources.landing import RESCUED_COLUMN


class PaymentContract(Contract):
    payment_id: pl.String = pa.Field(nullable=False, description="The payment provider's payment id.")
    order_id: pl.Int64 = pa.Field(nullable=False, description="The order paid.")
    amount: Money = pa.Field(
        nullable=False, description="Amount in its currency, parsed exactly (2 decimals)."
    )
    currency: pl.String = pa.Field(
        nullable=False, isin=CURRENCIES, description="ISO currency code, upper case."
    )
    usd_rate: Rate = pa.Field(
        nullable=False, description="USD per unit of the currency, on the settlement day."
    )
    amount_usd: Money = pa.Field(nullable=False, description="Amount in USD, rounded to cents.")
    method: pl.String = pa.Field(nullable=True, description="Payment method (card, paypal, bank_transfer).")
    settled_at: UtcTimestamp = pa.Field(nullable=False, description="When the payment settled (UTC).")
    rescued_data: pl.String = pa.Field(
        nullable=True, alias=RESCUED_COLUMN, description="The source line, when it did not parse."
    )

    @pa.check(RESCUED_COLUMN, name="well_formed_line")
    def well_formed_line(cls, data: PolarsData) -> pl.LazyFrame:
        """The source line parsed into the expected fields (nothing had to be rescued)."""
        return data.lazyframe.select(pl.col(data.key).is_null())

    @pa.check("currency", "settled_at", name="rate_of_the_day", ignore_na=False)
    def rate_of_the_day(cls, data: PolarsData) -> pl.LazyFrame:
        """A payment in a known currency, settled on a known day, has that day's rate.

        Checked on both columns so that a failure names the currency and the settlement time.
        """
        convertible = (
            pl.col("currency").is_in(CURRENCIES).fill_null(False) & pl.col("settled_at").is_not_null()
        )
        return data.lazyframe.select(pl.col("usd_rate").is_not_null() | ~convertible)

    class Config(Contract.Config):
        metadata = {
            "severity": {
                "not_nullable": "drop",
                "isin": "drop",
                "well_formed_line": "drop",
                "rate_of_the_day": "fail",
            }
        }


def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
    parsed = raw.select(
        trimmed("payment_id"),
        integer("order_id"),
        money_text("amount"),
        code("currency"),
        trimmed("method").str.to_lowercase(),
        utc_from_zulu("settled_at"),
        pl.col(RESCUED_COLUMN),
        *LINEAGE,
    )
    return with_rate_of_day(
        parsed, context.lookups["exchange_rates"], pl.col("settled_at").dt.date()
    ).with_columns(to_usd(pl.col("amount"), pl.col("usd_rate")).alias("amount_usd"))


PAYMENTS = RefinedTable(
    name="payments",
    keys=("payment_id",),
    contract=PaymentContract,
    transform=transform,
    description="Payments: one row per settled payment, amount in its currency and in USD.",
    sequence_column="settled_at",
    lookups={"exchange_rates": dg.AssetKey(["refined", "exchange_rates"])},
    monitored_columns=("amount_usd",),
)
