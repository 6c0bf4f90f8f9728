"""A blocking check that fails stops the assets downstream of its table in that run."""

from pathlib import Path

import dagster as dg
import polars as pl
from deltalake import write_deltalake

from assets_tests.conftest import copy_of_build
from assets_tests.selected_build import build_selected, reached_from
from lakehouse.operations.runner import run_build
from lakehouse.serving.query import list_tables

RAW_ORDERS = dg.AssetKey(["raw", "orders"])


def materialised(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return {r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records}


def published_rows(catalog: Path) -> int | None:
    """The rows of refined/orders as the serving catalog last published them."""
    return next(t.rows for t in list_tables(catalog) if (t.schema, t.table) == ("refined", "orders"))


def test_a_duplicated_refined_key_blocks_the_facts_built_from_it(
    tmp_path: Path, instance: dg.DagsterInstance
):
    lakehouse = copy_of_build(tmp_path, instance, scale=0.002, seed=3, days=20)
    orders = str(lakehouse.settings.tables_dir / "refined" / "orders")
    before = published_rows(lakehouse.settings.catalog_path)
    write_deltalake(orders, pl.read_delta(orders).head(1), mode="append")  # a second copy of one key

    outcome = lakehouse.build(instance)

    failed = {(c.asset, c.check) for c in outcome.checks if not c.passed}
    # The copy is also a row raw does not account for, so reconciliation fails with it.
    assert failed == {("refined/orders", "unique_key"), ("refined/orders", "reconciles_with_raw")}
    assert not outcome.success
    built = materialised(instance, outcome.run_id)
    # Upstream and unrelated branches still ran; everything fed by refined/orders did not.
    assert {"raw/orders", "refined/customers", "curated/dim_customer", "curated/fact_sessions"} <= built
    blocked = {
        "curated/fact_order_items",
        "curated/fact_payments",
        "curated/mart_daily_sales",
        "curated/dim_date",
    }
    assert not blocked & built
    # The failed run still published what is there: the catalog now counts the copied key.
    assert published_rows(lakehouse.settings.catalog_path) == before + 1 == pl.read_delta(orders).height


def test_a_volume_anomaly_warns_without_blocking_anything_downstream(
    tmp_path: Path, instance: dg.DagsterInstance
):
    lakehouse = copy_of_build(tmp_path, instance, scale=0.002, seed=3, days=20)
    for _ in range(5):  # a history of ordinary days (extracting raw orders is enough to make it)
        lakehouse.advance(1)
        normal = run_build(lakehouse.definitions, instance, echo=lambda _: None, selection=[RAW_ORDERS])
    assert volume_anomaly(normal).passed

    lakehouse.advance(10)  # ten days of orders arrive at once
    # raw/orders and everything built from it: what its check could block (the other branches cannot be)
    outcome = build_selected(lakehouse, instance, reached_from("raw/orders"))

    anomaly = volume_anomaly(outcome)
    assert not anomaly.passed
    assert anomaly.severity == "WARN"
    assert outcome.success
    built = materialised(instance, outcome.run_id)
    assert {"refined/orders", "curated/fact_order_items", "curated/mart_daily_sales"} <= built


def volume_anomaly(outcome):
    return next(c for c in outcome.checks if (c.asset, c.check) == ("raw/orders", "volume_anomaly"))
