"""Deletes in the shop database reach refined customers and products, from SQLite and PostgreSQL alike.

Five simulated days are extracted (ten rows read at a time) and refined, then five more: on those
days customers close their accounts and products are discontinued (soft deletes), and the test
customer and test product of day 1 are purged on day 8 (hard deletes, found by key
reconciliation). Refined must then hold exactly the manifest's deleted keys, marked deleted, and a
re-run must change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from assets_tests.postgres_server import PostgresServer
from lakehouse import simulator
from lakehouse.components.declared import shop_tables
from lakehouse.defs.raw.shop_tables import build_raw_shop_asset
from lakehouse.defs.refined.customers import CUSTOMERS
from lakehouse.defs.refined.products import PRODUCTS
from lakehouse.defs.refined.refine import build_refined_asset
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.simulator import writer
from lakehouse.simulator.deletes import TEST_ID_BASE
from lakehouse.sources.shop_db import ShopDatabase

# One worker builds the shops for every test here: each uses the PostgreSQL server, and so is in its
# xdist group (assets_tests/tiers.py).

SCALE, SEED, FIRST_DAYS, MORE_DAYS = 0.002, 5, 5, 5
BATCH_ROWS = 10  # rows read at a time: each extraction in many batches, on both databases
TABLES = {"customers": CUSTOMERS, "products": PRODUCTS}
PURGED = TEST_ID_BASE + 1  # the test records of day 1, purged on day 8
ASSETS = [
    *(build_raw_shop_asset(shop_tables()[name]) for name in TABLES),
    *(build_refined_asset(table) for table in TABLES.values()),
]


@dataclass
class Shop:
    """A simulated shop in one database, and the raw and refined tables built from it."""

    sources: Path
    uri: str
    store: DeltaStore
    manifest: dict[str, Any]

    def build(self, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
        store = self.store
        result = dg.materialize(
            ASSETS,
            instance=instance,
            resources={
                "shop_db": ShopDatabase(uri=self.uri, batch_rows=BATCH_ROWS),
                "store": store,
                "io_manager": DeltaIOManager(store=store),
                "pseudonymiser": Pseudonymiser(key="test-key"),
            },
        )
        assert result.success
        return result

    def refined(self, name: str) -> pl.DataFrame:
        return self.store.scan(TABLES[name].refined_key).collect().sort(TABLES[name].keys)

    def deleted(self, name: str) -> pl.DataFrame:
        return self.refined(name).filter(pl.col("deleted_at").is_not_null())


def build_shop(root: Path, instance: dg.DagsterInstance, uri: str | None) -> tuple[Shop, list]:
    """Five days built, five more simulated and built, then built once more: the three results."""
    sources = root / "sources"
    simulator.generate(sources, scale=SCALE, seed=SEED, days=FIRST_DAYS, db_uri=uri)
    shop = Shop(sources, writer.database_uri(sources, uri), DeltaStore(root=str(root / "tables")), {})
    first = shop.build(instance)
    shop.manifest = simulator.advance(sources, MORE_DAYS, db_uri=uri)
    return shop, [first, shop.build(instance), shop.build(instance)]


@pytest.fixture(scope="module")
def shops(
    tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance, postgres_server: PostgresServer
) -> dict[str, tuple[Shop, list]]:
    uri = postgres_server.create_database("shop_deletes")
    return {
        "sqlite": build_shop(tmp_path_factory.mktemp("sqlite"), instance, None),
        "postgresql": build_shop(tmp_path_factory.mktemp("postgresql"), instance, uri),
    }


def quarantined_keys(shop: Shop, name: str) -> set[str]:
    defects = pl.read_parquet(shop.sources / simulator.DEFECTS_FILE)
    return set(defects.filter(table=name, handling="quarantine").get_column("key"))


def hard_deleted(result: dg.ExecuteInProcessResult, name: str) -> int:
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(["raw", name])
    ]
    return event.materialization.metadata["rows_hard_deleted"].value


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("name", list(TABLES))
def test_refined_marks_exactly_the_soft_and_hard_deleted_keys(shops, backend: str, name: str):
    shop, _ = shops[backend]
    truth = shop.manifest["deletes"][name]
    soft = {k: v for k, v in truth["soft"].items() if k not in quarantined_keys(shop, name)}
    deleted = shop.deleted(name)
    key = TABLES[name].keys[0]
    as_text = pl.col("deleted_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")

    assert truth["hard"] == {str(PURGED): 8}
    assert len(soft) > 0
    kept = deleted.filter(pl.col(key) != PURGED)
    assert dict(kept.select(pl.col(key).cast(pl.String), as_text).rows()) == soft
    tombstone = deleted.filter(pl.col(key) == PURGED)
    assert tombstone.height == 1
    assert tombstone.get_column("deleted_at").to_list() == tombstone.get_column("updated_at").to_list()
    assert shop.refined(name).height == shop.manifest["clean_rows"][name] + 1  # the purged key stays


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("name", list(TABLES))
def test_each_purge_is_reconciled_once(shops, backend: str, name: str):
    _, (first, after_purge, again) = shops[backend]
    assert [hard_deleted(r, name) for r in (first, after_purge, again)] == [0, 1, 0]


@pytest.mark.parametrize("name", list(TABLES))
def test_postgresql_refines_the_same_rows_as_sqlite(shops, name: str):
    """The same rows, deletes included; only ingestion and reconciliation times differ."""
    times = ["_ingested_at", "_refined_at", "_batch_id"]
    sqlite, postgresql = (shops[backend][0] for backend in ("sqlite", "postgresql"))
    key = TABLES[name].keys[0]
    not_purged = pl.col(key) != PURGED

    ours, theirs = (shop.refined(name).filter(not_purged).drop(times) for shop in (postgresql, sqlite))
    assert ours.equals(theirs)
    assert (
        postgresql.deleted(name).get_column(key).to_list() == sqlite.deleted(name).get_column(key).to_list()
    )
