"""The session fact and the funnel, against the simulator's own clickstream (its accepted events)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import polars as pl

from assets_tests.conftest import Lakehouse
from assets_tests.defs.curated.truth import simulated_sessions
from lakehouse.defs.curated.clickstream import session_days_to_rebuild
from lakehouse.defs.refined.sessions import WATERMARK
from lakehouse.lib.columns import CHANGES
from lakehouse.lib.storage.scd2 import IS_DELETED, VALID_FROM

UTC_TIME = pl.Datetime("us", "UTC")


def table(lakehouse: Lakehouse, name: str) -> pl.DataFrame:
    return pl.read_delta(str(lakehouse.settings.tables_dir / "curated" / name))


def test_fact_sessions_holds_every_simulated_session_once(any_lakehouse: Lakehouse):
    fact = table(any_lakehouse, "fact_sessions")
    truth = any_lakehouse.manifest["clickstream"]

    assert fact.height == truth["sessions"]
    assert fact["session_id"].is_unique().all()
    assert fact["events"].sum() == truth["accepted_events"]
    # anonymous visitors are the unknown member; a signed-in customer gets a version of their own,
    # unless they are not in the dimension (still in quarantine)
    assert (fact.filter(pl.col("customer_id").is_null())["customer_key"] == -1).all()
    dim = table(any_lakehouse, "dim_customer").select("customer_key", pl.col("customer_id").alias("member"))
    signed_in = fact.filter(pl.col("customer_id").is_not_null()).join(dim, on="customer_key", how="left")
    known = pl.col("customer_id").is_in(dim["member"].implode())
    assert signed_in.filter(known)["member"].equals(signed_in.filter(known)["customer_id"], check_names=False)
    assert (signed_in.filter(~known)["customer_key"] == -1).all()


def test_mart_funnel_equals_the_funnel_of_the_simulated_sessions(any_lakehouse: Lakehouse):
    steps = ["viewed", "carted", "checked_out", "purchased"]
    expected = (
        simulated_sessions(any_lakehouse.settings.sources_dir)
        .group_by("session_date", "channel")
        .agg(pl.len().alias("sessions"), *(pl.col(s).sum().alias(s) for s in steps))
        .sort("session_date", "channel")
    )
    mart = table(any_lakehouse, "mart_funnel").sort("session_date", "channel")

    assert mart.select("session_date", "channel", "sessions", *steps).rows() == expected.rows()
    day = mart.row(0, named=True)
    assert day["conversion_rate"] == day["purchased"] / day["sessions"]
    assert day["view_to_cart"] == day["carted"] / day["viewed"]


def test_the_fact_rebuilds_the_days_refined_replaced_or_emptied():
    """Refined replaced the 1st (its sessions carry a newer watermark), emptied the 2nd (a session
    moved to the 1st), added the 4th, and left the 3rd as it was."""
    at = [datetime(2025, 2, 1, hour, tzinfo=UTC) for hour in (0, 1)]
    day = [date(2025, 1, d) for d in (1, 2, 3, 4)]
    fact = pl.LazyFrame(
        {"session_date": day[:3], WATERMARK: [at[0]] * 3, "_built_at": [at[0]] * 3},
        schema_overrides={WATERMARK: UTC_TIME, "_built_at": UTC_TIME},
    )
    sessions = pl.LazyFrame(
        {
            "session_date": [day[0], day[2], day[3]],
            "session_start": [datetime.combine(d, time(23), UTC) for d in (day[0], day[2], day[3])],
            "customer_id": [1, 2, 3],
            WATERMARK: [at[1], at[0], at[1]],
        },
        schema_overrides={WATERMARK: UTC_TIME},
    )
    no_customer_changed = pl.LazyFrame(
        schema={
            "customer_id": pl.Int64,
            "_refined_at": UTC_TIME,
            VALID_FROM: UTC_TIME,
            IS_DELETED: pl.Boolean,
            CHANGES: pl.List(pl.Struct({"updated_at": UTC_TIME, "_refined_at": UTC_TIME})),
        }
    )

    assert session_days_to_rebuild(fact, sessions, no_customer_changed) == [day[0], day[1], day[3]]
    assert session_days_to_rebuild(None, sessions, no_customer_changed) is None
