"""Refined sessions: a user's events split by 30 minutes of inactivity.

A user is the signed-in customer, else the anonymous visitor id (events with neither belong to no
session). A late event can join two sessions, extend one, or move one to the day before (when it
comes before the session's first event and before midnight), anywhere in the user's history: only
a rebuild of all of a user's events is exact. So the users with events refined since the last
build (`_events_refined_at`) are rebuilt, their new sessions compared with those the table holds,
and the days where any differ (a session new, changed, or gone) are replaced as whole slices
(`overwrite_partition` by `session_date`): the rebuilt users' sessions of those days beside
everyone else's as they were. Slices by user rewrote the whole table every day (a day's users are
spread over every file); a day slice is what the run changed, and fact_sessions rebuilds exactly
the days whose sessions carry a newer watermark (every session of a replaced day carries the
run's). A run that refined no event, or changed no session, writes nothing.

The full build writes the sessions in day order (built a group of users at a time, spilled to
files sorted by day, read back a few days at a time), so each file of the table holds a range of
nearby days (delta-rs writes a stream in two interleaved halves: neighbouring files overlap), and
replacing a day later rewrites only the files holding it, not every file.
"""

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl

from lakehouse.defs.refined.events import EVENTS
from lakehouse.lib.code_version import code_version
from lakehouse.lib.incremental import day_batches, days, one_of
from lakehouse.lib.key_buckets import bucket_count, bucket_of, spilled
from lakehouse.lib.pools import table_pool
from lakehouse.lib.quality.contract import Contract, UtcTimestamp, pii
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.spill import SpilledFrames
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE
from lakehouse.lib.storage.write_spec import REPLACED_SLICES

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
        nullable=False,
        alias=WATERMARK,
        description="Newest event refinement when the session's day was last built (one per day).",
    )


SESSIONS = TableSpec(
    layer="refined",
    name="sessions",
    description="Sessions: a user's events split by 30 minutes of inactivity, from all refined events.",
    contract=SessionContract,
    key=("session_id",),
    grain="session",
    write=write_spec.overwrite_partition("session_date"),
)
REFINED_SESSIONS = SESSIONS.asset_key


USER = pl.coalesce(pl.format("customer:{}", "customer_id"), pl.format("visitor:{}", "anonymous_id"))
# The visitor of an event with no signed-in customer (`USER` tells users apart so).
VISITOR = pl.when(pl.col("customer_id").is_null()).then(pl.col("anonymous_id"))


def user_number() -> pl.Expr:
    """A number per user of the frame (as `USER` tells users apart) to sort and split events by:
    the customer id, or for a visitor a rank below every customer id of the frame. Sorting by the
    user's text, formatted for every event, was half of the sessions' full build (3.8M events at
    scale 1: a sort by two integers costs a third of one by text)."""
    customer = pl.col("customer_id")
    return pl.coalesce(customer, customer.min().fill_null(0) - VISITOR.rank("dense").cast(pl.Int64))


def of_users(new: pl.LazyFrame) -> pl.Expr:
    """Whether an event (or a session) belongs to a user of the `new` events (as `USER` tells users
    apart); never null, so that it can be negated.

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
    customer = pl.col("customer_id").is_in(customers.to_series().implode())
    visitor = ~signed_in & pl.col("anonymous_id").is_in(visitors.to_series().implode())
    return (customer | visitor).fill_null(False)


def _count(event_type: str) -> pl.Expr:
    return (pl.col("event_type") == event_type).sum().cast(pl.Int64)


# The event columns a session is built from.
EVENT_COLUMNS = ("customer_id", "anonymous_id", "channel", "event_type", "event_at", "order_id")


def sessionize(events: pl.LazyFrame) -> pl.LazyFrame:
    """One row per session: its user, channel, start, end, events by type and the order it placed."""
    has_user = pl.col("customer_id").is_not_null() | pl.col("anonymous_id").is_not_null()
    ordered = (
        events.select(EVENT_COLUMNS)
        .filter(has_user)
        .with_columns(_user=user_number())
        .sort("_user", "event_at")
    )
    starts = (pl.col("_user") != pl.col("_user").shift(1)).fill_null(True) | (
        pl.col("event_at").diff() > SESSION_GAP
    )
    return (
        ordered.with_columns(session=starts.cum_sum())
        .group_by("session")
        .agg(
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
        .with_columns(USER.alias("user_key"))  # a session's, not every event's
        .select(
            pl.format(
                "{}@{}", "user_key", pl.col("session_start").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            ).alias("session_id"),
            "user_key",
            pl.exclude("session", "user_key"),
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


# What a session is, without its watermark: what tells a rebuilt session from the one held.
CONTENT = list(SESSION_SOURCES)


def every_session(events: pl.LazyFrame, store: DeltaStore, watermark: pl.Expr) -> Iterator[dg.Output]:
    """The full build: every session in day order, spilled to a folder that lasts until written."""
    with store.scratch_folder("sessions-") as folder:
        groups = users_apart(
            events, store.batch_rows, lambda some: sessionize(some).with_columns(watermark), store.scratch
        )
        yield dg.Output(in_day_order(groups, folder, store.batch_rows))


def day_slices(events: pl.LazyFrame, held: pl.LazyFrame, since: datetime, watermark: pl.Expr) -> dg.Output:
    """The days where the sessions of the users with events refined `since` changed, whole: those
    users' sessions of the days rebuilt, everyone else's as `held`, all with the new `watermark`.
    (No rows and no days when no session changed: nothing is written.)"""
    touched = of_users(events.filter(pl.col("_refined_at") > since))
    rebuilt = sessionize(events.filter(touched)).collect()
    changed = changed_days(rebuilt.lazy(), held.filter(touched).select(CONTENT))
    if not changed:
        return dg.Output(None, metadata={"days_replaced": 0})
    of_days = pl.col("session_date").is_in(changed)
    kept = held.filter(of_days & ~touched).select(CONTENT)
    rows = pl.concat([kept, rebuilt.lazy().filter(of_days)]).with_columns(watermark)
    replaced = {REPLACED_SLICES: [day.isoformat() for day in changed], "days_replaced": len(changed)}
    return dg.Output(rows.sort("session_date", "session_id"), metadata=replaced)


def changed_days(rebuilt: pl.LazyFrame, held: pl.LazyFrame) -> list[date]:
    """The days of the sessions new or different in `rebuilt` (some users' sessions built again),
    and of those `held` for the same users and gone from it (merged into another, or moved to
    another day by an earlier first event)."""
    return days(
        rebuilt.join(held, on=CONTENT, how="anti", nulls_equal=True).select("session_date"),
        held.join(rebuilt, on=CONTENT, how="anti", nulls_equal=True).select("session_date"),
    )


def users_apart(
    events: pl.LazyFrame, batch_rows: int, build: Callable[[pl.LazyFrame], pl.LazyFrame], scratch: Path
) -> Iterator[pl.DataFrame]:
    """`build` of the events, a group of users at a time: users split by a hash of their key (`USER`) into
    groups of about `batch_rows` events, so a full build's sort of every event by user is a
    group's. A session is one user's, so the groups' sessions together are all sessions.

    The events are split in one pass, spilled by group (`key_buckets.spilled`): filtering every
    event once a group read the table as many times as there are groups (77 at scale 10), under
    `scratch`."""
    groups = bucket_count(events.select(pl.len()).collect(engine="streaming").item(), batch_rows)
    frames = {"events": events.select(EVENT_COLUMNS)}
    with spilled(frames, bucket_of([USER], groups), groups, scratch) as split:
        for group in split:
            yield build(group["events"]).collect(engine="streaming")


# Rows of a spilled file's row groups: Polars skips a row group outside the days a batch reads, so
# reading every file a few days at a time reads each row about once.
SPILL_ROW_GROUP = 2_000


def in_day_order(groups: Iterator[pl.DataFrame], folder: Path, batch_rows: int) -> RowBatches:
    """The sessions, given a group of users at a time, as batches of whole days in day order (about
    `batch_rows` sessions each): each group spilled to `folder` sorted by day, the files read back a
    few days at a time (`day_batches`). Written in that order, each of the table's files holds nearby
    days (neighbouring files overlap: see the module's docstring)."""
    spill = SpilledFrames(folder, row_group_size=SPILL_ROW_GROUP)
    for group in groups:
        spill.add(group.sort("session_date"))
    spilled = spill.scan()

    def of_days(chosen: list[date]) -> pl.LazyFrame:
        return spilled.filter(one_of("session_date", chosen)).sort("session_date", "session_id")

    every = days(spilled.select("session_date"))
    return day_batches(of_days, every, spill.rows / max(1, len(every)), batch_rows)


@dg.asset(
    ins={"events": dg.AssetIn(EVENTS.refined_key)},
    pool=table_pool(SESSIONS.asset_key),
    **SESSIONS.asset_args(
        code_version(every_session, day_slices, SessionContract),
        {COLUMN_LINEAGE: SESSION_LINEAGE},
    ),
)
def refined_sessions(
    context: dg.AssetExecutionContext, store: DeltaStore, events: pl.LazyFrame
) -> Iterator[dg.Output]:
    newest = events.select(pl.col("_refined_at").max()).collect().item()
    table = store.reading(context).pin(REFINED_SESSIONS)
    built = table.newest(WATERMARK)
    if newest is None or built == newest:
        yield dg.Output(None)  # no event refined since the sessions were built
        return
    watermark = pl.lit(newest, pl.Datetime("us", "UTC")).alias(WATERMARK)
    if built is None:
        yield from every_session(events, store, watermark)
    else:
        yield day_slices(events, table.scan(), built, watermark)
