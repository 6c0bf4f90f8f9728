"""The example business queries: each states its question, and answers it as the simulator's ground
truth says it should."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from assets_tests.conftest import Lakehouse
from assets_tests.defs.curated.truth import simulated_sessions, sold, true_order_lines
from lakehouse.serving.query import run_query

QUERIES = Path(__file__).parents[2] / "lakehouse" / "serving" / "queries"


def answer(lakehouse: Lakehouse, name: str, **params: str) -> pl.DataFrame:
    sql = (QUERIES / f"{name}.sql").read_text()
    return pl.from_arrow(run_query(lakehouse.settings.catalog_path, sql, params or None))


@pytest.fixture(scope="module")
def truth(lakehouse: Lakehouse) -> pl.DataFrame:
    return sold(true_order_lines(lakehouse.settings.sources_dir))


@pytest.mark.parametrize("path", sorted(QUERIES.glob("*.sql")), ids=lambda p: p.stem)
def test_every_query_starts_by_stating_its_question(path: Path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("-- Question: ") and first.endswith("?")


def test_every_query_is_tested():
    tested = {"monthly_revenue", "sales_of_a_day", "funnel_by_channel", "repeat_customers"}
    assert {p.stem for p in QUERIES.glob("*.sql")} == tested


def test_monthly_revenue(lakehouse: Lakehouse, truth: pl.DataFrame):
    expected = (
        truth.group_by(pl.col("order_date").dt.month_start().alias("month"))
        .agg(pl.col("order_id").n_unique(), pl.col("quantity").sum(), pl.col("net_usd").sum())
        .sort("month")
    )
    assert answer(lakehouse, "monthly_revenue").rows() == expected.rows()


def test_sales_of_a_day(lakehouse: Lakehouse, truth: pl.DataFrame):
    day = truth["order_date"].unique().sort()[100]
    expected = (
        truth.filter(pl.col("order_date") == day)
        .group_by("currency")
        .agg(pl.col("order_id").n_unique(), pl.col("net_usd").sum())
        .sort("currency")
    )
    assert answer(lakehouse, "sales_of_a_day", day=day.isoformat()).rows() == expected.rows()


def test_funnel_by_channel(lakehouse: Lakehouse):
    steps = ["viewed", "carted", "checked_out", "purchased"]
    expected = (
        simulated_sessions(lakehouse.settings.sources_dir)
        .group_by("channel")
        .agg(pl.len(), *(pl.col(s).sum() for s in steps))
        .sort("channel")
    )
    result = answer(lakehouse, "funnel_by_channel")
    assert result.drop("conversion_rate").rows() == expected.rows()
    assert result["conversion_rate"].to_list() == [
        round(p / s, 4) for p, s in zip(expected["purchased"], expected["len"], strict=True)
    ]


def test_repeat_customers(lakehouse: Lakehouse, truth: pl.DataFrame):
    per_customer = truth.group_by("customer_id").agg(pl.col("order_id").n_unique(), pl.col("net_usd").sum())
    repeat = per_customer.filter(pl.col("order_id") > 1)
    assert answer(lakehouse, "repeat_customers").row(0) == (
        repeat.height,
        per_customer.height,
        repeat["net_usd"].sum(),
        per_customer["net_usd"].sum(),
    )
