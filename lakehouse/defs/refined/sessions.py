"""Refined sessions: a user's events split by 30 minutes of inactivity.

A user is the signed-in customer, else the anonymous visitor id (events with neither belong to no
session). A user's sessions are rebuilt from all of that user's events whenever one of them was
refined since the last build (`_events_refined_at`), and replace that user's sessions as a whole
(`overwrite_partition` by user): a late event can join two sessions or extend one anywhere in the
user's history, so only a rebuild of the user is exact, and only the users with new events are
rebuilt. A run that refined no event writes nothing.
"""

from collections.abc import Callable
from datetime import timedelta

import dagster as dg
import pandera.polars as pa
import polars as pl

from lakehouse.defs.refined.events import EVENTS
from lakehouse.lib.code_version import code_version
from lakehouse.lib.pools import table_pool
from lakehouse.lib.quality.contract import Contract, UtcTimestamp, pii
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.row_batches import Reread, RowBatches
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE

SESSION_GAP = timedelta(minutes=30)
WATERMARK = "_events_refined_at"


class SessionContract(Contract):
    """The sessions as `sessionize` builds them."""

    session_id: pl.String = pa.Field(nullable=False, description="The user and the session's start time.")
    user_key: pl.String = pa.Field(
        nullable=False,
        description="customer:<id> when signed in, else visitor:<anonymous id>.",
        metadata=pii("indirect"),
    )
    customer_id: pl.Int64 = pa.Field(
        nullable=True, description="The signed-in customer, if any.", metadata=pii("indirect")
    )
    anonymous_id: pl.String = pa.Field(
        nullable=True, description="The anonymous visitor, if not signed in.", metadata=pii("indirect")
    )
    channel: pl.String = pa.Field(nullable=True, description="Channel of the first event.")
    session_start: UtcTimestamp = pa.Field(nullable=False, description="First event (UTC).")
    session_end: UtcTimestamp = pa.Field(nullable=False, description="Last event (UTC).")
    events: pl.Int64 = pa.Field(nullable=False, description="Events in the session.")
    page_views: pl.Int64 = pa.Field(nullable=False, description="page_view events.")
    add_to_carts: pl.Int64 = pa.Field(nullable=False, description="add_to_cart events.")
    checkouts: pl.Int64 = pa.Field(nullable=False, description="checkout events.")
    purchases: pl.Int64 = pa.Field(nullable=False, description="purchase events.")
    order_id: pl.Int64 = pa.Field(nullable=True, description="The order a purchase placed, if any.")
    session_date: pl.Date = pa.Field(nullable=False, description="Day the session started (UTC).")
    duration_seconds: pl.Int64 = pa.Field(nullable=False, description="Last minus first event, seconds.")
    events_refined_at: UtcTimestamp = pa.Field(
        nullable=False, alias=WATERMARK, description="Newest event refinement the sessions include."
    )


SESSIONS = TableSpec(
    layer="refined",
    name="sessions",
    description="Sessions: a user's events split by 30 minutes of inactivity, from all refined events.",
    contract=SessionContract,
    key=("session_id",),
    grain="session",
    write=write_spec.overwrite_partition("user_key"),
)
REFINED_SESSIONS = SESSIONS.asset_key


USER = pl.coalesce(pl.format("customer:{}", "customer_id"), pl.format("visitor:{}", "anonymous_id"))


def of_users(new: pl.LazyFrame) -> pl.Expr:
    """Whether an event belongs to a user of the `new` events (as `USER` tells users apart).

    Compares ids, not the user text: building that text for every event of the table was most of
    an incremental build's time.
    """
    signed_in = pl.col("customer_id").is_not_null()
    customers, visitors = pl.collect_all(
        [
            new.filter(signed_in).select(pl.col("customer_id").unique()),
            new.filter(~signed_in).select(pl.col("anonymous_id").drop_nulls().unique()),
        ]
    )
    return pl.col("customer_id").is_in(customers.to_series().implode()) | (
        ~signed_in & pl.col("anonymous_id").is_in(visitors.to_series().implode())
    )


def _count(event_type: str) -> pl.Expr:
    return (pl.col("event_type") == event_type).sum().cast(pl.Int64)


def sessionize(events: pl.LazyFrame) -> pl.LazyFrame:
    """One row per session: its user, channel, start, end, events by type and the order it placed."""
    ordered = (
        events.select(
            "customer_id", "anonymous_id", "channel", "event_type", "event_at", "order_id", user_key=USER
        )
        .filter(pl.col("user_key").is_not_null())
        .sort("user_key", "event_at")
    )
    starts = (pl.col("user_key") != pl.col("user_key").shift(1)).fill_null(True) | (
        pl.col("event_at").diff() > SESSION_GAP
    )
    return (
        ordered.with_columns(session=starts.cum_sum())
        .group_by("session")
        .agg(
            pl.col("user_key").first(),
            pl.col("customer_id").first(),
            pl.col("anonymous_id").first(),
            pl.col("channel").first(),
            pl.col("event_at").min().alias("session_start"),
            pl.col("event_at").max().alias("session_end"),
            pl.len().cast(pl.Int64).alias("events"),
            _count("page_view").alias("page_views"),
            _count("add_to_cart").alias("add_to_carts"),
            _count("checkout").alias("checkouts"),
            _count("purchase").alias("purchases"),
            pl.col("order_id").drop_nulls().first().alias("order_id"),
        )
        .select(
            pl.format(
                "{}@{}", "user_key", pl.col("session_start").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            ).alias("session_id"),
            pl.exclude("session"),
            pl.col("session_start").dt.date().alias("session_date"),
            (pl.col("session_end") - pl.col("session_start")).dt.total_seconds().alias("duration_seconds"),
        )
        .sort("session_start", "session_id")
    )


USER_COLUMNS = ("customer_id", "anonymous_id")
# Which refined event columns each session column is computed from (see `sessionize`).
SESSION_SOURCES: dict[str, tuple[str, ...]] = {
    "session_id": (*USER_COLUMNS, "event_at"),
    "user_key": USER_COLUMNS,
    "customer_id": ("customer_id",),
    "anonymous_id": ("anonymous_id",),
    "channel": ("channel",),
    "session_start": ("event_at",),
    "session_end": ("event_at",),
    "events": ("event_id",),
    **dict.fromkeys(("page_views", "add_to_carts", "checkouts", "purchases"), ("event_type",)),
    "order_id": ("order_id",),
    "session_date": ("event_at",),
    "duration_seconds": ("event_at",),
}
SESSION_LINEAGE = dg.TableColumnLineage(
    {
        column: [dg.TableColumnDep(asset_key=EVENTS.refined_key, column_name=source) for source in sources]
        for column, sources in SESSION_SOURCES.items()
    }
)


@dg.asset(
    ins={"events": dg.AssetIn(EVENTS.refined_key)},
    pool=table_pool(SESSIONS.asset_key),
    **SESSIONS.asset_args(
        code_version(sessionize, of_users, SessionContract), {COLUMN_LINEAGE: SESSION_LINEAGE}
    ),
)
def refined_sessions(
    context: dg.AssetExecutionContext, store: DeltaStore, events: pl.LazyFrame
) -> RowBatches | None:
    newest = events.select(pl.col("_refined_at").max()).collect().item()
    built = store.reading(context).newest(REFINED_SESSIONS, WATERMARK)
    if newest is None or built == newest:
        return None  # no event refined since the sessions were built
    if built is not None:  # only the users with newly refined events, all of their events
        events = events.filter(of_users(events.filter(pl.col("_refined_at") > built)))
    watermark = pl.lit(newest, pl.Datetime("us", "UTC")).alias(WATERMARK)
    return users_apart(events, store.batch_rows, lambda some: sessionize(some).with_columns(watermark))


def users_apart(
    events: pl.LazyFrame, batch_rows: int, build: Callable[[pl.LazyFrame], pl.LazyFrame]
) -> RowBatches:
    """`build` of the events, a group of users at a time: users split by a hash of their id into
    groups of about `batch_rows` events, so a full build's sort of every event by user is a
    group's. A session is one user's, so the groups' sessions together are all sessions."""
    groups = max(1, -(-events.select(pl.len()).collect(engine="streaming").item() // batch_rows))
    customer, visitor = pl.col("customer_id"), pl.col("anonymous_id")
    user = pl.when(customer.is_not_null()).then(customer.hash(seed=0)).otherwise(visitor.hash(seed=0))

    def group(number: int) -> pl.LazyFrame:
        return build(events.filter(user % groups == number))

    batches = Reread(lambda: (group(n).collect(engine="streaming") for n in range(groups)))
    return RowBatches(group(0).collect_schema(), batches, source_batches=[])
