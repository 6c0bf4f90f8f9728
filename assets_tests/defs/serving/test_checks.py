"""The revenue reconciliation, in SQL over the catalog's views of the revenue tables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from assets_tests.conftest import Lakehouse
from lakehouse.defs.serving.checks import revenue_reconciles
from lakehouse.defs.serving.monthly_revenue import MART_MONTHLY_REVENUE
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.serving.resource import ServingCatalog

MONEY = pa.decimal128(18, 2)


def money(*values: str) -> pa.Array:
    return pa.array([Decimal(v) for v in values], MONEY)


def reconcile(tmp_path: Path, daily: list[str], monthly: list[str]) -> dg.AssetCheckResult:
    """The check over a fact of three lines (one cancelled, 10.00 sold) and the two revenue marts."""
    curated = tmp_path / "tables" / "curated"
    fact = {"order_status": ["placed", "cancelled", "delivered"], "net_usd": money("7.50", "99.00", "2.50")}
    write_deltalake(curated / "fact_order_items", pa.table(fact))
    write_deltalake(curated / "mart_daily_sales", pa.table({"net_usd": money(*daily)}))
    write_deltalake(curated / "mart_monthly_revenue", pa.table({"net_usd": money(*monthly)}))
    return revenue_reconciles(
        store=DeltaStore(root=str(tmp_path / "tables")),
        serving_catalog=ServingCatalog(database=str(tmp_path / "lakehouse.duckdb")),
    )


def test_revenue_reconciles_when_every_total_agrees_to_the_cent(tmp_path: Path):
    result = reconcile(tmp_path, ["7.50", "2.50"], ["10.00"])
    assert result.passed
    assert result.metadata["mart_monthly_revenue_net_usd"].value == "10.00"


@pytest.mark.parametrize(
    ("daily", "monthly"),
    [(["7.50", "2.49"], ["10.00"]), (["7.50", "2.50"], ["109.00"])],
    ids=["a day short by a cent", "cancelled orders counted"],
)
def test_revenue_does_not_reconcile_when_a_mart_disagrees(
    tmp_path: Path, daily: list[str], monthly: list[str]
):
    assert not reconcile(tmp_path, daily, monthly).passed


def test_the_build_reconciles_the_manifests_revenue(lakehouse: Lakehouse):
    [record] = [
        r
        for r in lakehouse.instance.get_records_for_run(
            lakehouse.outcome.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=1000
        ).records
        if r.event_log_entry.dagster_event.event_specific_data.check_name == "revenue_reconciles"
    ]
    evaluation = record.event_log_entry.dagster_event.event_specific_data
    total = lakehouse.manifest["totals"]["net_revenue_usd_excl_cancelled"]
    assert evaluation.asset_key == MART_MONTHLY_REVENUE
    assert evaluation.passed
    assert {name: value.value for name, value in evaluation.metadata.items()} == {
        "fact_order_items_net_usd": total,
        "mart_daily_sales_net_usd": total,
        "mart_monthly_revenue_net_usd": total,
    }
