"""The clickstream in the star schema: the session fact and the conversion funnel.

`fact_sessions` keys each refined session to the customer version valid when it started (anonymous
visitors: the unknown member) and is rebuilt day by day: the days refined replaced since (refined
replaces whole days, every session of one carrying the run's watermark; a day it emptied the fact
still holds) and the days of customers refined since, from their change on.
`mart_funnel` counts, per day and channel, the sessions reaching each step.
"""

from datetime import date

import dagster as dg
import pandera.polars as pa
import polars as pl

from lakehouse.defs.curated.dimensions import DIM_CUSTOMER, DIM_CUSTOMER_TABLE
from lakehouse.defs.curated.facts import built_now, replacing, replacing_by_days
from lakehouse.defs.curated.lineage import lineage_metadata
from lakehouse.defs.refined.sessions import REFINED_SESSIONS, SESSIONS, WATERMARK
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.incremental import (
    Target,
    affected,
    changed_members,
    changed_since,
    days,
    one_of,
    rows_of,
    watermarks,
)
from lakehouse.lib.keys import date_key, lookup_version
from lakehouse.lib.partitions import DAY_SLICED, with_backfill
from lakehouse.lib.quality.contract import (
    Contract,
    UtcTimestamp,
    built_at,
    contract_columns,
    pii,
    references,
    refined_at,
)
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.store import DeltaStore


class FactSessionsContract(Contract):
    session_id: pl.String = pa.Field(nullable=False, description="The user and the session's start time.")
    session_date_key: pl.Int32 = pa.Field(
        nullable=False, description="Start day (UTC) as yyyymmdd: dim_date."
    )
    session_date: pl.Date = pa.Field(nullable=False, description="Day the session started (UTC).")
    session_start: UtcTimestamp = pa.Field(nullable=False, description="First event (UTC).")
    session_end: UtcTimestamp = pa.Field(nullable=False, description="Last event (UTC).")
    duration_seconds: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Last minus first event, seconds."
    )
    user_key: pl.String = pa.Field(
        nullable=False,
        description="customer:<id> when signed in, else visitor:<anonymous id>.",
        metadata=pii("indirect"),
    )
    customer_key: pl.Int64 = pa.Field(
        nullable=False,
        description="dim_customer version at the session's start (-1: anonymous or unknown).",
        metadata=references(DIM_CUSTOMER, "customer_key"),
    )
    customer_id: pl.Int64 = pa.Field(
        nullable=True, description="The signed-in customer, if any.", metadata=pii("indirect")
    )
    anonymous_id: pl.String = pa.Field(
        nullable=True, description="The anonymous visitor, if not signed in.", metadata=pii("indirect")
    )
    channel: pl.String = pa.Field(nullable=True, description="Channel of the first event (web, mobile, ...).")
    events: pl.Int64 = pa.Field(nullable=False, gt=0, description="Events in the session.")
    page_views: pl.Int64 = pa.Field(nullable=False, ge=0, description="page_view events.")
    add_to_carts: pl.Int64 = pa.Field(nullable=False, ge=0, description="add_to_cart events.")
    checkouts: pl.Int64 = pa.Field(nullable=False, ge=0, description="checkout events.")
    purchases: pl.Int64 = pa.Field(nullable=False, ge=0, description="purchase events.")
    order_id: pl.Int64 = pa.Field(nullable=True, description="The order a purchase placed, if any.")
    events_refined_at: UtcTimestamp = refined_at("session's events", "_events_refined_at")
    built_at: UtcTimestamp = built_at()


class MartFunnelContract(Contract):
    session_date: pl.Date = pa.Field(nullable=False, description="Day the sessions started (UTC).")
    channel: pl.String = pa.Field(nullable=False, description="Channel ('unknown' if none).")
    sessions: pl.Int64 = pa.Field(nullable=False, gt=0, description="Sessions.")
    viewed: pl.Int64 = pa.Field(nullable=False, ge=0, description="Sessions with a page view.")
    carted: pl.Int64 = pa.Field(nullable=False, ge=0, description="Sessions that added to the cart.")
    checked_out: pl.Int64 = pa.Field(nullable=False, ge=0, description="Sessions that reached checkout.")
    purchased: pl.Int64 = pa.Field(nullable=False, ge=0, description="Sessions that purchased.")
    view_to_cart: pl.Float64 = pa.Field(nullable=True, description="carted / viewed (null when none viewed).")
    cart_to_checkout: pl.Float64 = pa.Field(nullable=True, description="checked_out / carted.")
    checkout_to_purchase: pl.Float64 = pa.Field(nullable=True, description="purchased / checked_out.")
    conversion_rate: pl.Float64 = pa.Field(nullable=True, description="purchased / sessions.")
    fact_built_at: UtcTimestamp = pa.Field(
        nullable=False, alias="_fact_built_at", description="Newest fact row included."
    )


FACT_SESSIONS_TABLE = TableSpec(
    layer="curated",
    name="fact_sessions",
    description=(
        "Clickstream sessions (grain: one session, 30 minutes of inactivity splits), keyed to the customer "
        "version valid at their start (anonymous visitors: the unknown member)."
    ),
    contract=FactSessionsContract,
    key=("session_id",),
    grain="session",
    slice_by="session_date",
    partitions=DAY_SLICED,
    freshness=DAILY,
)
MART_FUNNEL_TABLE = TableSpec(
    layer="curated",
    name="mart_funnel",
    description=(
        "Conversion funnel by session day and channel: sessions that viewed a page, added to the cart, "
        "checked out and purchased, and the conversion from each step to the next."
    ),
    contract=MartFunnelContract,
    key=("session_date", "channel"),
    grain="day x channel",
    slice_by="session_date",
    freshness=DAILY,
)
FACT_SESSIONS, MART_FUNNEL = FACT_SESSIONS_TABLE.asset_key, MART_FUNNEL_TABLE.asset_key
FACT_SESSION_COLUMNS = [
    pl.col("session_id"),
    date_key(pl.col("session_date")).alias("session_date_key"),
    *map(pl.col, ["session_date", "session_start", "session_end", "duration_seconds", "user_key"]),
    pl.col("customer_key"),
    *map(pl.col, ["customer_id", "anonymous_id", "channel", "events", "page_views", "add_to_carts"]),
    *map(pl.col, ["checkouts", "purchases", "order_id", WATERMARK]),
]
# The funnel's steps: a session reaches a step when it has at least one event of it.
STEPS = {
    "viewed": "page_views",
    "carted": "add_to_carts",
    "checked_out": "checkouts",
    "purchased": "purchases",
}
FUNNEL_GRAIN = [pl.col("session_date"), pl.col("channel").fill_null("unknown")]
FUNNEL_COUNTS = [
    pl.len().cast(pl.Int64).alias("sessions"),
    *((pl.col(events) > 0).sum().cast(pl.Int64).alias(step) for step, events in STEPS.items()),
]


def _share(part: str, whole: str) -> pl.Expr:
    """part / whole, null when whole is 0."""
    return pl.when(pl.col(whole) > 0).then(pl.col(part) / pl.col(whole))


FUNNEL_RATES = [
    _share("carted", "viewed").alias("view_to_cart"),
    _share("checked_out", "carted").alias("cart_to_checkout"),
    _share("purchased", "checked_out").alias("checkout_to_purchase"),
    _share("purchased", "sessions").alias("conversion_rate"),
]


def session_days_to_rebuild(
    current: Target | None, sessions: pl.LazyFrame, customers: pl.LazyFrame
) -> list[date] | None:
    """The days refined replaced since the fact was built, or of customers refined since (from
    their change on: see `changed_members`); None: every day (no fact yet).

    Refined replaces whole days, every session of a replaced day carrying the run's watermark: the
    days with a session newer than the fact's are those it replaced, and the days the fact holds
    that refined no longer has, those it emptied (a session moved to the day before, say).
    """
    marks = watermarks(current, [WATERMARK, "_built_at"])
    if marks is None:
        return None
    held_days = rows_of(current).select("session_date").unique()
    changed_customers = changed_members(customers, marks["_built_at"], "customer_id")
    return days(
        changed_since(sessions, marks[WATERMARK], WATERMARK).select("session_date"),
        held_days.join(sessions.select("session_date").unique(), on="session_date", how="anti"),
        affected(sessions, changed_customers, "customer_id", pl.col("session_start")).select("session_date"),
    )


@FACT_SESSIONS_TABLE.asset(
    ins={"sessions": dg.AssetIn(REFINED_SESSIONS), "customers": dg.AssetIn(DIM_CUSTOMER)},
    metadata=lineage_metadata(
        FACT_SESSION_COLUMNS,
        {
            REFINED_SESSIONS: contract_columns(SESSIONS.contract),
            DIM_CUSTOMER: contract_columns(DIM_CUSTOMER_TABLE.contract),
        },
    ),
)
def fact_sessions(
    context: dg.AssetExecutionContext, store: DeltaStore, sessions: pl.LazyFrame, customers: pl.LazyFrame
) -> dg.Output[RowBatches]:
    changed = session_days_to_rebuild(store.reading(context).pin(FACT_SESSIONS), sessions, customers)
    rebuilt = with_backfill(context, changed)
    if rebuilt is not None:
        sessions = sessions.filter(one_of("session_date", rebuilt))
    built = built_now()

    def sessions_of(days: list[date]) -> pl.LazyFrame:
        of_days = sessions.filter(one_of("session_date", days))
        keyed = lookup_version(of_days, customers, "customer_id", "customer_key", "session_start")
        return keyed.select(*FACT_SESSION_COLUMNS, built).sort("session_date", "session_id")

    return replacing_by_days(sessions_of, rebuilt, sessions.select("session_date"), store.batch_rows)


@MART_FUNNEL_TABLE.asset(
    ins={"sessions": dg.AssetIn(FACT_SESSIONS)},
    metadata=lineage_metadata(
        [*FUNNEL_GRAIN, *FUNNEL_COUNTS, *FUNNEL_RATES],
        {FACT_SESSIONS: contract_columns(FactSessionsContract)},
        derived=FUNNEL_COUNTS,
    ),
)
def mart_funnel(
    context: dg.AssetExecutionContext, store: DeltaStore, sessions: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    marks = watermarks(store.reading(context).pin(MART_FUNNEL), ["_fact_built_at"])
    rebuilt = None
    if marks is not None:
        rebuilt = days(changed_since(sessions, marks["_fact_built_at"], "_built_at").select("session_date"))
        sessions = sessions.filter(one_of("session_date", rebuilt))
    mart = (
        sessions.group_by(FUNNEL_GRAIN)
        .agg(*FUNNEL_COUNTS, pl.col("_built_at").max().alias("_fact_built_at"))
        .with_columns(FUNNEL_RATES)
        .sort("session_date", "channel")
    )
    return replacing(mart, rebuilt)


checks = [FACT_SESSIONS_TABLE.check_step(fact_sessions), MART_FUNNEL_TABLE.check_step(mart_funnel)]
