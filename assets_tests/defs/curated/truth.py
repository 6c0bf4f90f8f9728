"""Ground truth for the curated tests, from the simulator's clean frames and clickstream (never the
lakehouse's output).

The order lines a correct `fact_order_items` holds (see the manifest's `totals`): lines passing
their own rules whose order is not quarantined, net of discount in USD at the rate of the order day.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from lakehouse.lib.currency import MONEY, to_usd, with_rate_of_day
from lakehouse.simulator import build_state, read_params
from lakehouse.simulator.clickstream import accepted_events
from lakehouse.simulator.defects import kinds_of, mark
from lakehouse.simulator.exchange_rates import simulation_rates
from lakehouse.simulator.model import build_world

GAP_MICROS = int(timedelta(minutes=30).total_seconds() * 1_000_000)


def _clean(table: str) -> pl.Expr:
    quarantined = [kind.defect for kind in kinds_of(table) if kind.handling == "quarantine"]
    return ~pl.col("defect").is_in(quarantined).fill_null(False)


def true_order_lines(sources_dir: Path) -> pl.DataFrame:
    """Each true line: order, customer, product, order_date, status, currency, quantity, net_usd."""
    params = read_params(sources_dir)
    marked = mark(build_world(params.scale, params.seed, params.start, params.days), params.seed, params.days)
    orders = (
        marked["orders"]
        .filter(_clean("orders"))
        .select(
            "order_id",
            "customer_id",
            "status",
            "currency",
            (pl.lit(params.start) + pl.duration(days=pl.col("day"))).alias("order_date"),
        )
    )
    rate = pl.col("usd_rate")
    gross = (pl.col("unit_price").round(2).cast(MONEY) * pl.col("quantity")).cast(MONEY)
    discount = pl.col("discount").round(2).cast(MONEY)
    return (
        marked["order_items"]
        .lazy()
        .filter(_clean("order_items"))
        .join(orders.lazy(), on="order_id")
        .pipe(with_rate_of_day, simulation_rates(params).lazy(), pl.col("order_date"))
        .select(
            "order_id",
            "customer_id",
            "product_id",
            pl.col("order_date").cast(pl.Date),
            "status",
            "currency",
            "quantity",
            net_usd=to_usd(gross, rate) - to_usd(discount, rate),
        )
        .collect()
    )


def sold(lines: pl.DataFrame) -> pl.DataFrame:
    return lines.filter(pl.col("status") != "cancelled")


def newest_day(lines: pl.DataFrame) -> date:
    return lines["order_date"].max()


def simulated_sessions(sources_dir: Path) -> pl.DataFrame:
    """Sessions of the simulator's accepted events: per user (customer, else visitor), ordered by
    time, a gap over 30 minutes starts a new one. Day and channel are the first event's."""
    events = accepted_events(build_state(read_params(sources_dir)).clickstream.lines)
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
