"""The session fact and the funnel, against the simulator's own clickstream (its accepted events)."""

from __future__ import annotations

import polars as pl

from assets_tests.conftest import Lakehouse
from assets_tests.defs.curated.truth import simulated_sessions


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
