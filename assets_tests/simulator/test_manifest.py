"""The manifest agrees with the written sources, cleaned the way the refined layer will."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from assets_tests.simulator.helpers import EMAIL, payment_lines, read_tables
from lakehouse.lib.currency import MONEY, to_usd
from lakehouse.simulator import DEFECTS_FILE, TABLES
from lakehouse.simulator.exchange_rates import daily_rates


@pytest.fixture(scope="module")
def tables(demo: Path) -> dict[str, pl.DataFrame]:
    return read_tables(demo)


@pytest.fixture(scope="module")
def payments(demo: Path) -> pl.DataFrame:
    """The well-formed payment lines, parsed and deduplicated, currency normalised."""
    fields = ["payment_id", "order_id", "amount", "currency", "method", "settled_at"]
    lines = payment_lines(demo).filter(pl.col("fields").list.len() == 6)
    parsed = lines.select(pl.col("fields").list.get(i).alias(name) for i, name in enumerate(fields))
    return parsed.unique().with_columns(pl.col("currency").str.to_uppercase())


def test_source_rows_are_what_was_written(
    demo_manifest: dict[str, Any], tables: dict[str, pl.DataFrame], demo: Path
) -> None:
    written = {table: frame.height for table, frame in tables.items()}
    written["payments"] = payment_lines(demo).height
    assert demo_manifest["source_rows"] == written


def test_source_rows_are_clean_plus_duplicate_plus_quarantined_rows(
    demo_manifest: dict[str, Any], demo: Path
) -> None:
    defects = pl.read_parquet(demo / DEFECTS_FILE)
    for table in TABLES:
        count = defects.filter(table=table).group_by("handling").len()
        by_handling = dict(count.rows())
        assert demo_manifest["source_rows"][table] == (
            demo_manifest["clean_rows"][table]
            + by_handling.get("deduplicate", 0)
            + by_handling.get("quarantine", 0)
        ), table


def test_defect_counts_are_the_recorded_defects(demo_manifest: dict[str, Any], demo: Path) -> None:
    defects = pl.read_parquet(demo / DEFECTS_FILE)
    for table, kinds in demo_manifest["defect_counts"].items():
        for defect, count in kinds.items():
            assert defects.filter(table=table, defect=defect).height == count, (table, defect)
    assert sum(sum(kinds.values()) for kinds in demo_manifest["defect_counts"].values()) == (defects.height)


def test_clean_rows_are_the_distinct_rows_passing_every_rule(
    demo_manifest: dict[str, Any], tables: dict[str, pl.DataFrame], payments: pl.DataFrame
) -> None:
    customers = tables["customers"].unique()
    email = pl.col("email").str.strip_chars().str.to_lowercase()
    products = tables["products"].unique()
    items = tables["order_items"].unique()

    assert demo_manifest["clean_rows"] == {
        "customers": customers.filter(email.str.contains(EMAIL)).height,
        "products": products.filter(pl.col("unit_price").is_not_null()).height,
        "orders": tables["orders"].unique().filter(pl.col("customer_id").is_not_null()).height,
        "order_items": items.filter(
            (pl.col("quantity") > 0) & pl.col("product_id").is_in(products["product_id"].implode())
        ).height,
        "payments": payments.height,
    }


def test_totals_are_reproduced_from_the_written_sources(
    demo_manifest: dict[str, Any], tables: dict[str, pl.DataFrame], payments: pl.DataFrame
) -> None:
    """At the provider's rate of the order's (UTC) day and of the settlement day."""
    start = date.fromisoformat(demo_manifest["start"])
    last = start + timedelta(days=demo_manifest["days"] - 1)
    rates = daily_rates(start, last, demo_manifest["seed"]).rename({"date": "day"})
    orders = (
        tables["orders"]
        .unique()
        .filter(pl.col("customer_id").is_not_null())
        .with_columns(
            pl.col("currency").str.to_uppercase(),
            pl.col("order_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%z").dt.date().alias("day"),
        )
    )
    rate = pl.col("usd_rate")
    gross = (pl.col("unit_price").round(2).cast(MONEY) * pl.col("quantity")).cast(MONEY)
    discount = pl.col("discount").round(2).cast(MONEY)
    fact = (
        tables["order_items"]
        .unique()
        .filter(
            pl.col("quantity") > 0, pl.col("product_id").is_in(tables["products"]["product_id"].implode())
        )
        .join(orders.select("order_id", "status", "currency", "day"), on="order_id")
        .join(rates, on=["day", "currency"])
        .with_columns(net_usd=to_usd(gross, rate) - to_usd(discount, rate))
    )
    paid = (
        payments.with_columns(pl.col("settled_at").str.to_date("%Y-%m-%dT%H:%M:%SZ").alias("day"))
        .join(rates, on=["day", "currency"])
        .select(to_usd(pl.col("amount").cast(MONEY), rate))
    )

    assert demo_manifest["totals"] == {
        "net_revenue_usd": f"{fact['net_usd'].sum():.2f}",
        "net_revenue_usd_excl_cancelled": (
            f"{fact.filter(pl.col('status') != 'cancelled')['net_usd'].sum():.2f}"
        ),
        "fact_order_items": fact.height,
        "payments_amount_usd": f"{paid.to_series().sum():.2f}",
    }
    assert fact.filter(pl.col("status") == "cancelled").height > 0
    assert paid.height == payments.height  # every payment had its day's rate (an inner join)


def test_the_manifest_describes_its_simulation(demo_manifest: dict[str, Any]) -> None:
    assert {key: demo_manifest[key] for key in ("scale", "seed", "start", "days")} == {
        "scale": 0.01,
        "seed": 42,
        "start": "2025-01-01",
        "days": 365,
    }
    assert demo_manifest["defect_rates"]["customers"] == {
        "duplicate_row": 0.01,
        "malformed_email": 0.01,
        "missing_email": 0.005,
    }
    assert list(demo_manifest["defect_rates"]) == list(TABLES)
