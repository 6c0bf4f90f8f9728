"""Refined payments: parsed settlement lines, amounts converted to USD."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from lakehouse.quality.contract import Contract, Money, Rate, UtcTimestamp
from lakehouse.reference.currency import USD_RATES, to_usd, usd_rates
from lakehouse.refined.cleansing import LINEAGE, code, integer, money_text, trimmed, utc_from_zulu
from lakehouse.refined.refine import RefinedTable, TransformContext
from lakehouse.sources.landing import RESCUED_COLUMN


class PaymentContract(Contract):
    payment_id: pl.String = pa.Field(nullable=False)
    order_id: pl.Int64 = pa.Field(nullable=False)
    amount: Money = pa.Field(nullable=False)
    currency: pl.String = pa.Field(nullable=False, isin=list(USD_RATES))
    usd_rate: Rate = pa.Field(nullable=False)
    amount_usd: Money = pa.Field(nullable=False)
    method: pl.String = pa.Field(nullable=True)
    settled_at: UtcTimestamp = pa.Field(nullable=False)
    rescued_data: pl.String = pa.Field(nullable=True, alias=RESCUED_COLUMN)

    @pa.check(RESCUED_COLUMN, name="well_formed_line")
    def well_formed_line(cls, data: PolarsData) -> pl.LazyFrame:
        """The source line parsed into the expected fields (nothing had to be rescued)."""
        return data.lazyframe.select(pl.col(data.key).is_null())

    class Config(Contract.Config):
        metadata = {"severity": {"not_nullable": "drop", "isin": "drop", "well_formed_line": "drop"}}


def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
    return (
        raw.select(
            trimmed("payment_id"),
            integer("order_id"),
            money_text("amount"),
            code("currency"),
            trimmed("method").str.to_lowercase(),
            utc_from_zulu("settled_at"),
            pl.col(RESCUED_COLUMN),
            *LINEAGE,
        )
        .join(usd_rates(), on="currency", how="left", maintain_order="left")
        .with_columns(to_usd(pl.col("amount"), pl.col("usd_rate")).alias("amount_usd"))
    )


PAYMENTS = RefinedTable(
    name="payments",
    keys=("payment_id",),
    contract=PaymentContract,
    transform=transform,
    description="Payments: one row per settled payment, amount in its currency and in USD.",
    sequence_column="settled_at",
    monitored_columns=("amount_usd",),
)
