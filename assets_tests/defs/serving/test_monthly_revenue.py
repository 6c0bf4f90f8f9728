"""The mart defined in SQL answers its question as the simulator's ground truth says it should."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse
from assets_tests.defs.curated.truth import sold, true_order_lines
from lakehouse.defs.curated.monthly_revenue import MartMonthlyRevenueContract
from lakehouse.defs.serving.monthly_revenue import SQL, months_to_rebuild, of_months
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


def test_an_incremental_recomputes_only_the_months_of_lines_built_since():
    """Lines of January built at T1, of March rebuilt at T2; the mart was built at T1: March alone,
    and the SQL answers for it alone."""
    t1, t2 = datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 4, 2, tzinfo=UTC)
    jan, mar = date(2025, 1, 1), date(2025, 3, 1)
    fact = pl.DataFrame(
        {
            "order_id": [1, 2],
            "customer_id": [10, 11],
            "order_month": [jan, mar],
            "currency": ["EUR", "EUR"],
            "order_status": ["placed", "placed"],
            "quantity": [1, 2],
            "net_usd": [Decimal("1.00"), Decimal("2.00")],
            "_built_at": [t1, t2],
        }
    )
    previous = pl.LazyFrame({"month": [jan], "_fact_built_at": [t1]})

    months = months_to_rebuild(previous, fact.lazy())

    assert months == [mar]
    assert months_to_rebuild(None, fact.lazy()) is None
    con = duckdb.connect()
    con.execute("CREATE SCHEMA curated")
    con.register("fact", fact.to_arrow())
    con.execute("CREATE VIEW curated.fact_order_items AS SELECT * FROM fact")
    assert con.sql(of_months(months)).fetchall() == [(mar, "EUR", 1, 1, 2, Decimal("2.00"), 1.0)]
    assert len(con.sql(of_months(None)).fetchall()) == 2
