"""The clickstream in the star schema: the session fact and the conversion funnel.

`fact_sessions` keys each refined session to the customer version valid when it started (anonymous
visitors: the unknown member) and is rebuilt day by day: the days of sessions whose user got new
events (a late event can merge or move a user's sessions anywhere in their history, so the days the
fact holds that user's sessions on now are rebuilt too) and of customers refined since.
`mart_funnel` counts, per day and channel, the sessions reaching each step.
"""

from datetime import date

import dagster as dg
import polars as pl

from lakehouse.defs.curated.contracts import DimCustomerContract, FactSessionsContract, MartFunnelContract
from lakehouse.defs.curated.dimensions import CURATED, DIM_CUSTOMER
from lakehouse.defs.curated.facts import built_now, replacing
from lakehouse.defs.curated.lineage import lineage_metadata
from lakehouse.defs.refined.sessions import REFINED_SESSIONS, WATERMARK
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.incremental import changed_since, days, watermarks
from lakehouse.lib.keys import date_key, lookup_version
from lakehouse.lib.partitions import DAY_SLICED, with_backfill
from lakehouse.lib.quality.contract import contract_columns, enforced
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.store import DeltaStore

FACT_SESSIONS = dg.AssetKey(["curated", "fact_sessions"])
MART_FUNNEL = dg.AssetKey(["curated", "mart_funnel"])
# refined/sessions is built by its own asset (not a RefinedTable): its columns, as it writes them
SESSION_COLUMNS = [
    "session_id",
    "user_key",
    "customer_id",
    "anonymous_id",
    "channel",
    "session_start",
    "session_end",
    "events",
    "page_views",
    "add_to_carts",
    "checkouts",
    "purchases",
    "order_id",
    "session_date",
    "duration_seconds",
    WATERMARK,
]
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
    current: pl.LazyFrame | None, sessions: pl.LazyFrame, customers: pl.LazyFrame
) -> list[date] | None:
    """Days of sessions rebuilt in refined since the fact was built, or of customers refined since."""
    marks = watermarks(current, [WATERMARK, "_built_at"])
    if marks is None:
        return None
    changed = changed_since(sessions, marks[WATERMARK], WATERMARK)
    changed_customers = changed_since(customers, marks["_built_at"]).select("customer_id")
    return days(
        changed.select("session_date"),
        current.join(changed.select("user_key"), on="user_key", how="semi").select("session_date"),
        sessions.join(changed_customers, on="customer_id", how="semi").select("session_date"),
    )


@dg.asset(
    key=FACT_SESSIONS,
    ins={"sessions": dg.AssetIn(REFINED_SESSIONS), "customers": dg.AssetIn(DIM_CUSTOMER)},
    description=(
        "Clickstream sessions (grain: one session, 30 minutes of inactivity splits), keyed to the customer "
        "version valid at their start (anonymous visitors: the unknown member)."
    ),
    metadata={
        **write_spec.overwrite_partition("session_date"),
        **enforced(FactSessionsContract),
        **lineage_metadata(
            FACT_SESSION_COLUMNS,
            {REFINED_SESSIONS: SESSION_COLUMNS, DIM_CUSTOMER: contract_columns(DimCustomerContract)},
        ),
        "grain": "session",
        "business_keys": ["session_id"],
    },
    freshness_policy=DAILY,
    **DAY_SLICED,
    **CURATED,
)
def fact_sessions(
    context: dg.AssetExecutionContext, store: DeltaStore, sessions: pl.LazyFrame, customers: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    changed = session_days_to_rebuild(store.reading(context).scan_or_none(FACT_SESSIONS), sessions, customers)
    rebuilt = with_backfill(context, changed)
    if rebuilt is not None:
        sessions = sessions.filter(pl.col("session_date").is_in(rebuilt))
    keyed = lookup_version(sessions, customers, "customer_id", "customer_key", "session_start")
    fact = keyed.select(*FACT_SESSION_COLUMNS, built_now()).sort("session_date", "session_id")
    return replacing(fact, rebuilt)


@dg.asset(
    key=MART_FUNNEL,
    ins={"sessions": dg.AssetIn(FACT_SESSIONS)},
    description=(
        "Conversion funnel by session day and channel: sessions that viewed a page, added to the cart, "
        "checked out and purchased, and the conversion from each step to the next."
    ),
    metadata={
        **write_spec.overwrite_partition("session_date"),
        **enforced(MartFunnelContract),
        **lineage_metadata(
            [*FUNNEL_GRAIN, *FUNNEL_COUNTS, *FUNNEL_RATES],
            {FACT_SESSIONS: contract_columns(FactSessionsContract)},
            derived=FUNNEL_COUNTS,
        ),
        "grain": "day x channel",
    },
    freshness_policy=DAILY,
    **CURATED,
)
def mart_funnel(
    context: dg.AssetExecutionContext, store: DeltaStore, sessions: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    marks = watermarks(store.reading(context).scan_or_none(MART_FUNNEL), ["_fact_built_at"])
    rebuilt = None
    if marks is not None:
        rebuilt = days(changed_since(sessions, marks["_fact_built_at"], "_built_at").select("session_date"))
        sessions = sessions.filter(pl.col("session_date").is_in(rebuilt))
    mart = (
        sessions.group_by(FUNNEL_GRAIN)
        .agg(*FUNNEL_COUNTS, pl.col("_built_at").max().alias("_fact_built_at"))
        .with_columns(FUNNEL_RATES)
        .sort("session_date", "channel")
    )
    return replacing(mart, rebuilt)
