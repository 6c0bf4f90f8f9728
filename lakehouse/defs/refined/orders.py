"""Refined orders: UTC order time and date, ISO currency codes, known statuses."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from lakehouse.defs.refined.refine import RefinedTable, TransformContext
from lakehouse.lib.cleansing import (
    code,
    integer,
    trimmed,
    utc_from_local,
    utc_from_zulu,
)
from lakehouse.lib.columns import RAW_LINEAGE
from lakehouse.lib.currency import CURRENCIES
from lakehouse.lib.quality.contract import Contract, UtcTimestamp, plausible_times

STATUSES = ["placed", "delivered", "cancelled", "returned"]


class OrderContract(Contract):
    order_id: pl.Int64 = pa.Field(nullable=False, description="The shop's order id.")
    customer_id: pl.Int64 = pa.Field(nullable=False, description="The customer who ordered.")
    order_at: UtcTimestamp = pa.Field(nullable=False, description="When the order was placed (UTC).")
    order_date: pl.Date = pa.Field(nullable=False, description="Order day (UTC).")
    status: pl.String = pa.Field(
        nullable=False, isin=STATUSES, description="Latest status: placed, delivered, cancelled or returned."
    )
    currency: pl.String = pa.Field(
        nullable=False, isin=CURRENCIES, description="ISO currency code of the order."
    )
    channel: pl.String = pa.Field(nullable=True, description="Sales channel, lower case.")
    updated_at: UtcTimestamp = pa.Field(nullable=False, description="Last change in the shop database (UTC).")

    plausible = plausible_times("order_at", "updated_at")

    class Config(Contract.Config):
        metadata = {"severity": {"plausible_time": "drop", "not_nullable": "drop", "isin": "drop"}}


def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
    return raw.select(
        integer("order_id"),
        integer("customer_id"),
        utc_from_local("order_at"),
        utc_from_local("order_at").dt.date().alias("order_date"),
        trimmed("status").str.to_lowercase(),
        code("currency"),
        trimmed("channel").str.to_lowercase(),
        utc_from_zulu("updated_at"),
        *RAW_LINEAGE,
    )


ORDERS = RefinedTable(
    name="orders",
    keys=("order_id",),
    contract=OrderContract,
    transform=transform,
    description="Orders: one row per order (latest status), UTC time, ISO currency.",
    derived_from={"order_date": ("order_at",)},
)
