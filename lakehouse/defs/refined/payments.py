"""Refined payments: parsed settlement lines, amounts exact in their own currency.

Payments are not converted to USD here: `curated/fact_payments` converts them at the settlement
day's rate when it builds, so a rate that arrives late or is restated reaches every payment of its
day (a conversion stored here would keep the rate of the day the payment was refined).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from lakehouse.defs.refined.refine import RefinedTable, TransformContext
from lakehouse.lib.cleansing import code, integer, money_text, trimmed, utc_from_zulu
from lakehouse.lib.columns import RAW_LINEAGE
from lakehouse.lib.currency import CURRENCIES
from lakehouse.lib.quality.contract import Contract, Money, UtcTimestamp, plausible_times
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
    method: pl.String = pa.Field(nullable=True, description="Payment method (card, paypal, bank_transfer).")
    settled_at: UtcTimestamp = pa.Field(nullable=False, description="When the payment settled (UTC).")
    rescued_data: pl.String = pa.Field(
        nullable=True, alias=RESCUED_COLUMN, description="The source line, when it did not parse."
    )

    @pa.check(RESCUED_COLUMN, name="well_formed_line")
    def well_formed_line(cls, data: PolarsData) -> pl.LazyFrame:
        """The source line parsed into the expected fields (nothing had to be rescued)."""
        return data.lazyframe.select(pl.col(data.key).is_null())

    plausible = plausible_times("settled_at")

    class Config(Contract.Config):
        metadata = {
            "severity": {
                "plausible_time": "drop",
                "not_nullable": "drop",
                "isin": "drop",
                "well_formed_line": "drop",
            }
        }


def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
    return raw.select(
        trimmed("payment_id"),
        integer("order_id"),
        money_text("amount"),
        code("currency"),
        trimmed("method").str.to_lowercase(),
        utc_from_zulu("settled_at"),
        pl.col(RESCUED_COLUMN),
        *RAW_LINEAGE,
    )


PAYMENTS = RefinedTable(
    name="payments",
    keys=("payment_id",),
    contract=PaymentContract,
    transform=transform,
    description="Payments: one row per settled payment, amount in its currency.",
    sequence_column="settled_at",
    monitored_columns=("amount",),
)
