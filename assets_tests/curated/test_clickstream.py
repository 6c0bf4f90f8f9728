"""The session fact and the funnel, against the simulator's own clickstream (its accepted events)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from assets_tests.conftest import Lakehouse
from lakehouse.simulator import build_state, read_params
from lakehouse.simulator.clickstream import accepted_events

GAP_MICROS = int(timedelta(minutes=30).total_seconds() * 1_000_000)


def table(lakehouse: Lakehouse, name: str) -> pl.DataFrame:
    return pl.read_delta(str(lakehouse.settings.tables_dir / "curated" / name))


def simulated_sessions(lakehouse: Lakehouse) -> pl.DataFrame:
    """Sessions of the simulator's accepted events: per user (customer, else visitor), ordered by
    time, a gap over 30 minutes starts a new one. Day and channel are the first event's."""
    events = accepted_events(build_state(read_params(lakehouse.settings.sources_dir)).clickstream.lines)
    user = pl.coalesce(pl.format("c{}", "customer_id"), pl.format("a{}", "anonymous_id"))
    ordered = events.with_columns(user=user).filter(pl.col("user").is_not_null()).sort("user", "at")
    starts = (pl.col("user") != pl.col("user").shift(1)).fill_null(True) | (pl.col("at").diff() > GAP_MICROS)
    return (
        ordered.with_columns(session=starts.cum_sum())
        .group_by("session")
        .agg(
            pl.from_epoch(pl.col("at").first(), "us").dt.date().alias("session_date"),
            pl.col("channel").first().fill_null("unknown"),
            pl.col("customer_id").first(),
            pl.len().alias("events"),
            *(
                (pl.col("event_type") == kind).any().alias(step)
                for step, kind in [
                    ("viewed", "page_view"),
                    ("carted", "add_to_cart"),
                    ("checked_out", "checkout"),
                    ("purchased", "purchase"),
                ]
            ),
        )
    )


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
        simulated_sessions(any_lakehouse)
        .group_by("session_date", "channel")
        .agg(pl.len().alias("sessions"), *(pl.col(s).sum().alias(s) for s in steps))
        .sort("session_date", "channel")
    )
    mart = table(any_lakehouse, "mart_funnel").sort("session_date", "channel")

    assert mart.select("session_date", "channel", "sessions", *steps).rows() == expected.rows()
    day = mart.row(0, named=True)
    assert day["conversion_rate"] == day["purchased"] / day["sessions"]
    assert day["view_to_cart"] == day["carted"] / day["viewed"]
