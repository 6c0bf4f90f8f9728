"""The mart defined in SQL answers its question as the simulator's ground truth says it should."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from assets_tests.conftest import Lakehouse
from assets_tests.defs.curated.truth import sold, true_order_lines
from lakehouse.defs.serving.monthly_revenue import SQL, MartMonthlyRevenueContract
from lakehouse.lib.quality.contract import contract_columns


def mart(lakehouse: Lakehouse) -> pl.DataFrame:
    path = lakehouse.settings.tables_dir / "curated" / "mart_monthly_revenue"
    return pl.read_delta(str(path)).sort("month", "currency")


def expected(lakehouse: Lakehouse) -> pl.DataFrame:
    lines = sold(true_order_lines(lakehouse.settings.sources_dir))
    return (
        lines.group_by(pl.col("order_date").dt.month_start().alias("month"), "currency")
        .agg(
            pl.col("order_id").n_unique().cast(pl.Int64).alias("orders"),
            pl.col("customer_id").n_unique().cast(pl.Int64).alias("customers"),
            pl.col("quantity").sum().alias("units"),
            pl.col("net_usd").sum().alias("net_usd"),
        )
        .sort("month", "currency")
    )


def test_the_sql_states_its_question():
    first = SQL.splitlines()[0]
    assert first.startswith("-- Question: ")
    assert SQL.split("\nselect")[0].endswith("?")


def test_monthly_revenue_by_currency_is_the_true_one(any_lakehouse: Lakehouse):
    truth = expected(any_lakehouse)
    table = mart(any_lakehouse)
    assert table.columns == contract_columns(MartMonthlyRevenueContract)
    measures = ["month", "currency", "orders", "customers", "units", "net_usd"]
    assert table.select(measures).rows() == truth.rows()


def test_each_currencys_share_of_its_month(lakehouse: Lakehouse):
    truth = expected(lakehouse).with_columns(
        (pl.col("net_usd").cast(pl.Float64) / pl.col("net_usd").cast(pl.Float64).sum().over("month")).alias(
            "share"
        )
    )
    table = mart(lakehouse)
    assert table["share_of_month"].to_list() == pytest.approx(truth["share"].to_list(), rel=1e-12)
    months = table.group_by("month").agg(pl.col("share_of_month").sum())
    assert months["share_of_month"].to_list() == pytest.approx([1.0] * months.height, rel=1e-12)


def test_the_whole_revenue_is_the_manifests(any_lakehouse: Lakehouse):
    total = mart(any_lakehouse)["net_usd"].sum()
    assert total == Decimal(any_lakehouse.manifest["totals"]["net_revenue_usd_excl_cancelled"])
