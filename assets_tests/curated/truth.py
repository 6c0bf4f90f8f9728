"""Ground truth for the curated tests, from the simulator's clean frames (never the lakehouse's output).

The order lines a correct `fact_order_items` holds (see the manifest's `totals`): lines passing
their own rules whose order is not quarantined, net of discount in USD at the rate of the order day.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from lakehouse.reference.currency import MONEY, to_usd, with_rate_of_day
from lakehouse.simulator import read_params
from lakehouse.simulator.defects import kinds_of, mark
from lakehouse.simulator.exchange_rates import simulation_rates
from lakehouse.simulator.model import build_world


def _clean(table: str) -> pl.Expr:
    quarantined = [kind.defect for kind in kinds_of(table) if kind.handling == "quarantine"]
    return ~pl.col("defect").is_in(quarantined).fill_null(False)


def true_order_lines(sources_dir: Path) -> pl.DataFrame:
    """order_id, customer_id, product_id, order_date, status, quantity, net_usd of every true line."""
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
            "quantity",
            net_usd=to_usd(gross, rate) - to_usd(discount, rate),
        )
        .collect()
    )


def sold(lines: pl.DataFrame) -> pl.DataFrame:
    return lines.filter(pl.col("status") != "cancelled")


def newest_day(lines: pl.DataFrame) -> date:
    return lines["order_date"].max()
