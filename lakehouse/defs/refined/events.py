"""Refined events: the clickstream deduplicated on `event_id`, UTC event time, a lateness window.

Lateness: an event is accepted when its time is at most `LATENESS` older than the newest event
time of the batches that arrived before its own (`_high_water_mark`, set by raw). Later ones are
quarantined with the rule `event_at:within_lateness` and counted in the rule failures: nothing is
lost, and a replayed record is judged against the same mark.
"""

from __future__ import annotations

from datetime import timedelta

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from lakehouse.defs.raw.events import HIGH_WATER_COLUMN
from lakehouse.defs.refined.refine import RefinedTable, TransformContext
from lakehouse.lib.cleansing import integer, trimmed, utc_from_zulu
from lakehouse.lib.columns import RAW_LINEAGE
from lakehouse.lib.quality.contract import Contract, UtcTimestamp, plausible_times
from lakehouse.sources.landing import RESCUED_COLUMN

LATENESS = timedelta(hours=2)
EVENT_TYPES = ["page_view", "add_to_cart", "checkout", "purchase"]


class EventContract(Contract):
    event_id: pl.String = pa.Field(nullable=False, description="The event's id (its key; re-sends share it).")
    event_type: pl.String = pa.Field(
        nullable=False, isin=EVENT_TYPES, description="page_view, add_to_cart, checkout or purchase."
    )
    event_at: UtcTimestamp = pa.Field(nullable=False, description="When it happened (UTC).")
    event_date: pl.Date = pa.Field(nullable=False, description="The UTC day it happened.")
    customer_id: pl.Int64 = pa.Field(nullable=True, description="The signed-in customer, if any.")
    anonymous_id: pl.String = pa.Field(nullable=True, description="The visitor, when not signed in.")
    channel: pl.String = pa.Field(nullable=True, description="web, mobile or marketplace.")
    page: pl.String = pa.Field(nullable=True, description="The page the event happened on.")
    product_id: pl.Int64 = pa.Field(nullable=True, description="The product viewed or added to the cart.")
    quantity: pl.Int64 = pa.Field(nullable=True, description="Units added to the cart.")
    order_id: pl.Int64 = pa.Field(nullable=True, description="The order a purchase placed.")
    rescued_data: pl.String = pa.Field(
        nullable=True, alias=RESCUED_COLUMN, description="A line that was not a JSON object, whole."
    )

    @pa.check("event_at", name="within_lateness")
    def within_lateness(cls, data: PolarsData) -> pl.LazyFrame:
        """No more than LATENESS older than the newest event of the earlier batches."""
        mark = pl.col(HIGH_WATER_COLUMN) - LATENESS
        return data.lazyframe.select((pl.col(data.key) >= mark).fill_null(True))

    @pa.check(RESCUED_COLUMN, name="well_formed_line")
    def well_formed_line(cls, data: PolarsData) -> pl.LazyFrame:
        """The line was a JSON object (nothing had to be rescued)."""
        return data.lazyframe.select(pl.col(data.key).is_null())

    plausible = plausible_times("event_at")

    class Config(Contract.Config):
        metadata = {
            "severity": {
                "plausible_time": "drop",
                "not_nullable": "drop",
                "isin": "drop",
                "within_lateness": "drop",
                "well_formed_line": "drop",
            }
        }


def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
    """Event time parsed once (the streaming engine would parse it again for `event_date`)."""
    return raw.with_columns(utc_from_zulu("event_at")).select(
        trimmed("event_id"),
        trimmed("event_type").str.to_lowercase(),
        pl.col("event_at"),
        pl.col("event_at").dt.date().alias("event_date"),
        integer("customer_id"),
        trimmed("anonymous_id"),
        trimmed("channel").str.to_lowercase(),
        trimmed("page"),
        integer("product_id"),
        integer("quantity"),
        integer("order_id"),
        pl.col(RESCUED_COLUMN),
        pl.col(HIGH_WATER_COLUMN),
        *RAW_LINEAGE,
    )


EVENTS = RefinedTable(
    name="events",
    keys=("event_id",),
    contract=EventContract,
    transform=transform,
    description="Clickstream events: one row per event id, UTC time, within the lateness window.",
    sequence_column="event_at",
    derived_from={"event_date": ("event_at",)},
)
