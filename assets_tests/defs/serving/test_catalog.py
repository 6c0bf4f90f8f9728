"""The catalog as its own step: downstream of every table, last in the build, and republished by
its automation condition when tables are materialised without it."""

from __future__ import annotations

import dagster as dg
import pytest

from assets_tests.conftest import Lakehouse
from lakehouse.definitions import default_definitions
from lakehouse.defs.serving.catalog import CATALOG

defs = default_definitions()

FACT_ORDER_ITEMS = dg.AssetKey(["curated", "fact_order_items"])


def materializations(lakehouse: Lakehouse) -> list[dg.AssetMaterialization]:
    """The build run's materialisations, in the order they happened."""
    records = lakehouse.instance.get_records_for_run(
        lakehouse.outcome.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=10_000
    ).records
    return [record.event_log_entry.asset_materialization for record in records]


def test_the_catalog_depends_on_every_table():
    graph = defs.resolve_asset_graph()
    tables = set(graph.get_all_asset_keys()) - {CATALOG}
    assert len(tables) == 42  # 40 and the file sets' two file-version registries
    assert set(graph.get(CATALOG).parent_keys) == tables


def test_the_build_publishes_the_catalog_last_and_says_what_it_published(lakehouse: Lakehouse):
    events = materializations(lakehouse)
    assert events[-1].asset_key == CATALOG
    assert [e.asset_key for e in events].count(CATALOG) == 1
    metadata = events[-1].metadata
    published = sorted(f"{p.parent.name}.{p.name}" for p in lakehouse.settings.tables_dir.glob("*/*"))
    # The 42 table assets, plus the audit log and the quality metrics the IO manager keeps.
    assert metadata["views"].value == len(published) == 44
    assert metadata["path"].value == str(lakehouse.settings.catalog_path)
    assert "| `curated.mart_monthly_revenue` | 0 |" in metadata["tables"].value.splitlines()


@pytest.fixture
def evaluate():
    """Evaluate the catalog's automation condition tick by tick, on a fresh instance."""
    with dg.DagsterInstance.ephemeral() as fresh:
        cursor = None

        def tick() -> int:
            nonlocal cursor
            result = dg.evaluate_automation_conditions(
                defs=defs, instance=fresh, asset_selection=dg.AssetSelection.assets(CATALOG), cursor=cursor
            )
            cursor = result.cursor
            return result.get_num_requested(CATALOG)

        yield fresh, tick


def test_a_table_materialised_without_the_catalog_brings_it_up_to_date(evaluate):
    instance, tick = evaluate
    assert tick() == 0  # nothing built yet: nothing to publish
    instance.report_runless_asset_event(dg.AssetMaterialization(CATALOG))
    assert tick() == 0
    # One table from the UI: the catalog follows, once.
    instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(["curated", "dim_product"])))
    assert tick() == 1
    assert tick() == 0
    # One day of a day-sliced fact, as a partition backfill from the UI writes it.
    instance.report_runless_asset_event(dg.AssetMaterialization(FACT_ORDER_ITEMS, partition="2025-01-05"))
    assert tick() == 1


def test_the_catalogs_automation_is_evaluated_by_a_sensor_that_starts_running():
    sensor = defs.resolve_sensor_def("serving_catalog_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.asset_selection.resolve(defs.resolve_asset_graph()) == {CATALOG}
