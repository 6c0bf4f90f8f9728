"""Raw shop tables: appended by `updated_at` watermark with an overlap window, every row version once."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from assets_tests.conftest import copy_of_build
from lakehouse.components.declared import shop_tables
from lakehouse.defs.raw.shop_tables import (
    build_raw_shop_asset,
    current_watermark,
    may_be_in_raw,
    newest_change,
    window_start,
)
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.settings import Settings, get_settings
from lakehouse.sources.errors import SourceSchemaError
from lakehouse.sources.shop_db import ShopDatabase

PRODUCTS = shop_tables()["products"]
RAW_PRODUCTS = dg.AssetKey(["raw", "products"])
T1, T2, T3 = (f"2025-01-0{d}T06:00:00.000000Z" for d in (1, 2, 3))
T2_MINUS_OVERLAP = "2025-01-02T05:50:00.000000Z"  # the overlap is 10 minutes
FUTURE = "2099-01-01T00:00:00.000000Z"


@pytest.fixture
def shop_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE products (product_id INTEGER, sku TEXT, name TEXT, category TEXT, "
            "unit_price REAL, updated_at TEXT, deleted_at TEXT)"
        )
    conn.close()
    insert(path, (1, "SKU-1", "Mug", "kitchen", 12.5, T1), (2, "SKU-2", "Lamp", "home", 30.0, T2))
    return path


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(root=str(tmp_path / "tables"))


def insert(shop_path: Path, *rows: tuple) -> None:
    """Commit rows (not deleted) to the source, as a late transaction would."""
    with sqlite3.connect(shop_path) as conn:
        conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, NULL)", rows)
    conn.close()


def materialise(
    instance: dg.DagsterInstance,
    shop_path: Path,
    store: DeltaStore,
    batch_rows: int = Settings.extract_batch_rows,
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [build_raw_shop_asset(PRODUCTS)],
        instance=instance,
        resources={
            "shop_db": ShopDatabase(uri=f"sqlite:///{shop_path}", batch_rows=batch_rows),
            "pseudonymiser": Pseudonymiser(key="test-key"),
            "store": store,
            "io_manager": DeltaIOManager(store=store),
        },
    )
    assert result.success
    return result


def raw_rows(store: DeltaStore) -> list[tuple]:
    """(product_id, unit_price, updated_at, window of the batch) per raw row, the ingestion time left out."""
    raw = store.scan(RAW_PRODUCTS).sort("_batch_id", "_row_number").collect()
    windows = raw.get_column("_batch_id").str.replace(r"@[0-9TZ:.\-]+$", "")
    return raw.select("product_id", "unit_price", "updated_at").with_columns(windows).rows()


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def counts(result: dg.ExecuteInProcessResult) -> tuple[object, ...]:
    """(rows read in the window, of which raw already held, appended)."""
    values = metadata(result)
    return values["rows_read"], values["rows_already_in_raw"], values["rows_extracted"]


def watermark(store: DeltaStore) -> str | None:
    return current_watermark(store.add_actions(RAW_PRODUCTS))


def comparisons(result: dg.ExecuteInProcessResult) -> tuple[object, object]:
    """(batches read, of which compared with raw's rows)."""
    values = metadata(result)
    return values["batches_read"], values["batches_compared_with_raw"]


def test_watermark_is_none_before_the_first_extraction(store):
    assert watermark(store) is None


def test_a_change_time_longer_than_its_statistic_is_still_compared(tmp_path):
    """The log keeps 64 characters of a text maximum, raised at the last: a bound above the true
    maximum, so a batch at that maximum is still compared with raw, and one past the bound is not."""
    longest = T2 + "x" * 80
    pl.DataFrame({"updated_at": [T1, longest]}).write_delta(tmp_path / "raw")
    bound = newest_change(DeltaStore(root=str(tmp_path)).add_actions(["raw"]), PRODUCTS)

    assert bound == T2 + "x" * 36 + "y"
    assert may_be_in_raw(pl.DataFrame({"updated_at": [longest]}), PRODUCTS, bound)
    assert not may_be_in_raw(pl.DataFrame({"updated_at": [bound + "a"]}), PRODUCTS, bound)


def test_the_window_starts_one_overlap_before_the_watermark():
    assert window_start(PRODUCTS, None) is None
    assert window_start(PRODUCTS, T2) == T2_MINUS_OVERLAP
    with pytest.raises(SourceSchemaError, match=r"shop\.products\.updated_at: watermark '2025-01-02'"):
        window_start(PRODUCTS, "2025-01-02")


@pytest.mark.parametrize("batch_rows", [Settings.extract_batch_rows, 1], ids=["whole", "row-by-row"])
def test_an_incremental_run_appends_exactly_the_changed_rows(instance, shop_path, store, batch_rows):
    """Read a row at a time, the second run compares only product 2's batch with raw: product 1's
    new version changed after raw's newest change, so raw cannot hold it and is not scanned for it."""
    first = materialise(instance, shop_path, store)
    assert watermark(store) == T2

    with sqlite3.connect(shop_path) as conn:
        conn.execute("UPDATE products SET unit_price = 11.0, updated_at = ? WHERE product_id = 1", (T3,))
    conn.close()
    second = materialise(instance, shop_path, store, batch_rows)

    assert raw_rows(store) == [
        (1, 11.0, T3, f"shop.products:{T2_MINUS_OVERLAP}..{T3}"),
        (1, 12.5, T1, f"shop.products:start..{T2}"),
        (2, 30.0, T2, f"shop.products:start..{T2}"),
    ]
    assert store.scan(RAW_PRODUCTS).collect_schema()["_ingested_at"] == pl.Datetime("us", "UTC")
    assert watermark(store) == T3
    # product 2 (at T2) was read again inside the overlap, and dropped: raw held it
    assert counts(second) == (2, 1, 1)
    assert comparisons(first) == (1, 0)  # the first extraction has nothing to compare with
    assert comparisons(second) == ((1, 1) if batch_rows > 1 else (2, 1))


def test_a_late_commit_inside_the_overlap_is_picked_up_and_one_before_it_is_not(instance, shop_path, store):
    materialise(instance, shop_path, store)

    insert(
        shop_path,
        (3, "SKU-3", "Desk", "home", 199.99, "2025-01-02T05:55:00.000000Z"),  # 5 minutes before T2
        (4, "SKU-4", "Rug", "home", 80.0, "2025-01-02T05:45:00.000000Z"),  # 15 minutes before
    )
    late = materialise(instance, shop_path, store)

    assert sorted(row[0] for row in raw_rows(store)) == [1, 2, 3]
    assert counts(late) == (2, 1, 1)
    assert watermark(store) == T2


def test_nothing_doubles_when_run_again(instance, shop_path, store):
    materialise(instance, shop_path, store)
    insert(shop_path, (3, "SKU-3", "Desk", "home", 199.99, T3))
    materialise(instance, shop_path, store)
    before = raw_rows(store)

    again = materialise(instance, shop_path, store)
    once_more = materialise(instance, shop_path, store)

    assert raw_rows(store) == before
    assert len(before) == 3
    assert counts(again) == counts(once_more) == (1, 1, 0)  # product 3, inside the overlap, dropped


@pytest.mark.parametrize("batch_rows", [Settings.extract_batch_rows, 1], ids=["whole", "row-by-row"])
def test_identical_source_rows_land_once_each_even_when_one_commits_late(
    instance, shop_path, store, batch_rows
):
    """The legacy tables have no key: two identical rows are two rows, in raw as in the source.

    Read a row at a time, the copies still meet raw's in one batch: it closes where the change
    time changes (were they compared apart, each would find raw's two and the late one be lost)."""
    duplicate = (5, "SKU-5", "Vase", "home", 15.0, T2)
    insert(shop_path, duplicate, duplicate)
    materialise(instance, shop_path, store, batch_rows)
    assert [row[0] for row in raw_rows(store)].count(5) == 2

    insert(shop_path, duplicate)  # a third copy, committed late with the same updated_at
    materialise(instance, shop_path, store, batch_rows)
    materialise(instance, shop_path, store, batch_rows)

    assert [row[0] for row in raw_rows(store)].count(5) == 3
    assert len(raw_rows(store)) == 5


def test_a_future_dated_row_is_ingested_once_and_does_not_stall_the_watermark(instance, shop_path, store):
    insert(shop_path, (6, "SKU-6", "Clock", "home", 9.0, FUTURE))
    first = materialise(instance, shop_path, store)

    assert metadata(first)["rows_future_dated"] == 1
    assert watermark(store) == T2

    insert(shop_path, (7, "SKU-7", "Chair", "home", 45.0, T3))
    second = materialise(instance, shop_path, store, batch_rows=1)
    materialise(instance, shop_path, store)

    assert sorted(row[0] for row in raw_rows(store)) == [1, 2, 6, 7]
    # products 2, 7 and 6, a batch each: raw's newest change is product 6's, in 2099, so all three
    # may be in raw and are compared with it
    assert comparisons(second) == (3, 3)
    assert watermark(store) == T3


def test_batch_ids_name_the_window_and_differ_for_different_rows(instance, shop_path, store):
    materialise(instance, shop_path, store)
    insert(shop_path, (3, "SKU-3", "Desk", "home", 199.99, T2))  # late, same updated_at as product 2
    materialise(instance, shop_path, store)
    insert(shop_path, (4, "SKU-4", "Rug", "home", 80.0, T2))  # another, same window and same newest
    materialise(instance, shop_path, store)

    batches = store.scan(RAW_PRODUCTS).select("_batch_id").unique().collect().to_series().to_list()
    windows = sorted(re.sub(r"@[0-9TZ:.\-]+$", "", b) for b in batches)
    assert windows == [
        f"shop.products:{T2_MINUS_OVERLAP}..{T2}",
        f"shop.products:{T2_MINUS_OVERLAP}..{T2}",
        f"shop.products:start..{T2}",
    ]
    assert sorted(row[0] for row in raw_rows(store)) == [1, 2, 3, 4]


def execute(shop_path: Path, sql: str, *parameters: object) -> None:
    with sqlite3.connect(shop_path) as conn:
        conn.execute(sql, parameters)
    conn.close()


def tombstones(store: DeltaStore) -> pl.DataFrame:
    raw = store.scan(RAW_PRODUCTS).filter(pl.col("_source") == "shop.products:key_reconciliation")
    return raw.sort("product_id", "_ingested_at").collect()


def test_a_row_deleted_in_the_source_gets_one_tombstone_and_a_rerun_adds_nothing(instance, shop_path, store):
    materialise(instance, shop_path, store)
    execute(shop_path, "DELETE FROM products WHERE product_id = 1")

    reconciled = materialise(instance, shop_path, store)
    again = materialise(instance, shop_path, store)

    dead = tombstones(store)
    # the last raw version of product 1, marked deleted at the time of the source's snapshot (its
    # newest change), not the wall clock: two runs over the same sources give the same tombstone
    assert dead.select("product_id", "sku", "unit_price", "updated_at", "deleted_at").rows() == [
        (1, "SKU-1", 12.5, T2, T2)
    ]
    assert dead.get_column("_watermark").to_list() == [None]
    assert metadata(reconciled)["rows_hard_deleted"] == 1
    assert metadata(again)["rows_hard_deleted"] == 0
    assert store.scan(RAW_PRODUCTS).select(pl.len()).collect().item() == 3
    assert watermark(store) == T2  # a tombstone does not move the watermark


def test_a_soft_delete_is_a_change_and_a_later_hard_delete_keeps_its_time(instance, shop_path, store):
    materialise(instance, shop_path, store)
    execute(shop_path, "UPDATE products SET deleted_at = ?, updated_at = ? WHERE product_id = 2", T3, T3)
    soft = materialise(instance, shop_path, store)
    execute(shop_path, "DELETE FROM products WHERE product_id = 2")
    hard = materialise(instance, shop_path, store)

    assert counts(soft) == (1, 0, 1) and metadata(soft)["rows_hard_deleted"] == 0
    assert metadata(hard)["rows_hard_deleted"] == 1
    dead = tombstones(store)
    assert dead.select("product_id", "deleted_at").rows() == [(2, T3)]
    assert dead.get_column("updated_at").to_list() == [T3]  # the snapshot's newest change
    assert watermark(store) == T3


def test_duplicate_rows_of_a_deleted_key_get_one_tombstone_and_a_key_that_returns_is_live(
    instance, shop_path, store
):
    insert(shop_path, (5, "SKU-5", "Vase", "home", 15.0, T1), (5, "SKU-5", "Vase", "home", 15.0, T1))
    materialise(instance, shop_path, store)
    execute(shop_path, "DELETE FROM products WHERE product_id = 5")
    materialise(instance, shop_path, store)
    assert tombstones(store).get_column("product_id").to_list() == [5]

    insert(shop_path, (5, "SKU-5", "Vase", "home", 16.0, T3))  # the key comes back, and goes again
    materialise(instance, shop_path, store)
    execute(shop_path, "DELETE FROM products WHERE product_id = 5")
    last = materialise(instance, shop_path, store)

    assert metadata(last)["rows_hard_deleted"] == 1
    assert tombstones(store).select("product_id", "unit_price").rows() == [(5, 15.0), (5, 16.0)]


class CrashBeforeCommit(DeltaIOManager):
    """Dies after the asset computed its batch (reconciliation included), before the Delta commit."""

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        raise dg.Failure(description="crashed before the commit", allow_retries=False)


def test_a_crash_between_reconciliation_and_commit_leaves_raw_untouched(instance, shop_path, store):
    materialise(instance, shop_path, store)
    insert(shop_path, (3, "SKU-3", "Desk", "home", 199.99, T3))
    execute(shop_path, "DELETE FROM products WHERE product_id = 1")
    before = store.version(RAW_PRODUCTS)

    crashed = dg.materialize(
        [build_raw_shop_asset(PRODUCTS)],
        instance=instance,
        resources={
            "shop_db": ShopDatabase(uri=f"sqlite:///{shop_path}"),
            "pseudonymiser": Pseudonymiser(key="test-key"),
            "store": store,
            "io_manager": CrashBeforeCommit(store=store),
        },
        raise_on_error=False,
    )

    assert not crashed.success
    assert store.version(RAW_PRODUCTS) == before
    recovered = materialise(instance, shop_path, store)
    assert (metadata(recovered)["rows_extracted"], metadata(recovered)["rows_hard_deleted"]) == (1, 1)
    # deleted as of the snapshot that also brought product 3: its newest change
    assert tombstones(store).select("product_id", "deleted_at").rows() == [(1, T3)]


def test_a_first_extraction_read_in_many_batches_lands_as_in_one_in_a_single_commit(
    instance, shop_path, tmp_path
):
    """The first extraction streams the table (ADBC batches of 2 rows here): the same rows, row
    numbers, watermarks, batch window and counts as one batch, in one commit."""
    insert(
        shop_path,
        *[(n, f"SKU-{n}", "Cup", "kitchen", 1.0 + n, T1) for n in range(3, 8)],
        (8, "S8", "x", "y", 1.0, FUTURE),
    )
    one = DeltaStore(root=str(tmp_path / "one"))
    whole = materialise(instance, shop_path, one)
    assert (
        len(list(ShopDatabase(uri=f"sqlite:///{shop_path}", batch_rows=2).stream_changes(PRODUCTS, None)))
        >= 4
    )
    many = DeltaStore(root=str(tmp_path / "many"))

    batched = materialise(instance, shop_path, many, batch_rows=2)

    def table(store: DeltaStore) -> pl.DataFrame:
        return (
            store.scan(RAW_PRODUCTS)
            .drop("_ingested_at", "_run_id", "_batch_id")
            .sort("_row_number")
            .collect()
        )

    assert table(many).equals(table(one))
    assert table(many).height == 8
    assert table(many).get_column("_row_number").to_list() == list(range(1, 9))
    assert table(many).get_column("_watermark").null_count() == 1  # the future-dated row
    assert raw_rows(many) == raw_rows(one)
    assert counts(batched) == counts(whole) == (8, 0, 8)
    assert metadata(batched)["rows_future_dated"] == 1
    assert DeltaTable(many.uri(RAW_PRODUCTS)).version() == 0


# --- An extraction after a pause of days, read in small batches ---------------------------------

SHOP = ("customers", "products", "orders", "order_items")
PAUSE_DAYS = 7  # days 32-38: the test records of day 31 are purged on day 38 (a hard delete)
TOMBSTONE = pl.col("_source").str.ends_with(":key_reconciliation")
# What an extraction reports of what it read (the table's own description aside).
EXTRACTION_METADATA = (
    "batches_read",
    "batches_compared_with_raw",
    "watermark_from",
    "window_from",
    "newest_extracted",
    "rows_read",
    "rows_already_in_raw",
    "rows_extracted",
    "rows_future_dated",
    "rows_of_erased_customers",
    "rows_hard_deleted",
)

# Batches compared with raw's rows (read whole, read 3 rows at a time): only those holding rows of
# the overlap raw already has (orders 1 row, order items 6). The later ones changed after raw's
# newest change and are not compared; customers and products changed in no overlap.
COMPARED_WITH_RAW = {"customers": (0, 0), "products": (0, 0), "orders": (1, 1), "order_items": (1, 2)}


@dataclass(frozen=True)
class PausedShop:
    """A lakehouse whose shop tables were last extracted after day 32, its shop 7 days further on."""

    data_dir: Path
    last_extracted: dict[str, pl.DataFrame]  # each source table as the last extraction found it
    manifest: dict[str, Any]

    def copy(self, target: Path) -> Path:
        return Path(shutil.copytree(self.data_dir, target))


def extract(
    instance: dg.DagsterInstance,
    data_dir: Path,
    tables: tuple[str, ...] = SHOP,
    batch_rows: int = Settings.extract_batch_rows,
    io_manager: type[DeltaIOManager] = DeltaIOManager,
) -> dg.ExecuteInProcessResult:
    """Materialise the raw shop tables of the lakehouse in `data_dir`, reading `batch_rows` at a time."""
    settings = get_settings(data_dir)
    store = DeltaStore(root=settings.tables_uri)
    return dg.materialize(
        [build_raw_shop_asset(shop_tables()[name]) for name in tables],
        instance=instance,
        resources={
            "shop_db": ShopDatabase(uri=settings.shop_db_uri, batch_rows=batch_rows),
            "pseudonymiser": Pseudonymiser(key=settings.pii_key),
            "store": store,
            "io_manager": io_manager(store=store),
        },
        raise_on_error=False,
    )


def source_rows(data_dir: Path, name: str) -> pl.DataFrame:
    return ShopDatabase(uri=get_settings(data_dir).shop_db_uri).extract_changes(shop_tables()[name], None)


@pytest.fixture(scope="module")
def paused(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> PausedShop:
    lakehouse = copy_of_build(tmp_path_factory.mktemp("paused"), instance, scale=0.01, seed=42, days=30)
    lakehouse.advance(2)  # the test records of day 31 appear, and are extracted
    assert extract(instance, lakehouse.settings.data_dir).success
    last_extracted = {name: source_rows(lakehouse.settings.data_dir, name) for name in SHOP}
    lakehouse.advance(PAUSE_DAYS)
    return PausedShop(lakehouse.settings.data_dir, last_extracted, lakehouse.manifest)


def raw_table(data_dir: Path, name: str) -> pl.DataFrame:
    return DeltaStore(root=get_settings(data_dir).tables_uri).scan(dg.AssetKey(["raw", name])).collect()


def appended(data_dir: Path, name: str, run_id: str) -> pl.DataFrame:
    """What the run appended to raw/<name>, in order, without the run's own id and instant."""
    rows = raw_table(data_dir, name).filter(pl.col("_run_id") == run_id).sort("_row_number")
    window = pl.col("_batch_id").str.replace(r"@[0-9TZ:.\-]+$", "")
    return rows.with_columns(window).drop("_ingested_at", "_run_id")


def changes_during_the_pause(paused: PausedShop, name: str) -> pl.DataFrame:
    """The rows the simulator's source holds now and did not at the last extraction (copies counted)."""
    now = source_rows(paused.data_dir, name)
    copy = pl.int_range(pl.len()).over(now.columns).alias("_copy")
    before = paused.last_extracted[name].with_columns(copy)
    new = now.with_columns(copy).join(before, on=[*now.columns, "_copy"], how="anti", nulls_equal=True)
    return new.drop("_copy").sort(pl.all())


def purged_during_the_pause(paused: PausedShop, name: str) -> list[int]:
    if not shop_tables()[name].reconcile_keys:
        return []
    hard = paused.manifest["deletes"][name]["hard"]
    return sorted(int(key) for key, day in hard.items() if day >= paused.manifest["days"] - PAUSE_DAYS)


def reported(result: dg.ExecuteInProcessResult, name: str) -> dict[str, object]:
    """What the extraction of raw/<name> reported, and its materialisation's data version."""
    [event] = result.asset_materializations_for_node(f"raw__{name}")
    values = {key: event.metadata[key].value for key in EXTRACTION_METADATA if key in event.metadata}
    return {**values, "data_version": event.tags["dagster/data_version"]}


def test_after_a_pause_an_extraction_in_small_batches_lands_exactly_as_in_one(paused, instance, tmp_path):
    whole = extract(instance, paused.copy(tmp_path / "whole"))
    batched = extract(instance, paused.copy(tmp_path / "batched"), batch_rows=3)

    assert whole.success and batched.success
    for name in SHOP:
        one = appended(tmp_path / "whole", name, whole.run_id)
        many = appended(tmp_path / "batched", name, batched.run_id)
        assert many.equals(one), name  # the same rows, numbers, watermarks and batch window
        changes = changes_during_the_pause(paused, name)
        assert many.filter(~TOMBSTONE).select(changes.columns).sort(pl.all()).equals(changes), name
        key = shop_tables()[name].keys[0]
        assert many.filter(TOMBSTONE).get_column(key).to_list() == purged_during_the_pause(paused, name)
        one_says, many_says = reported(whole, name), reported(batched, name)
        assert (one_says.pop("data_version"), many_says.pop("data_version")) == (whole.run_id, batched.run_id)
        batches = one_says.pop("batches_read"), many_says.pop("batches_read")
        compared = one_says.pop("batches_compared_with_raw"), many_says.pop("batches_compared_with_raw")
        assert compared == COMPARED_WITH_RAW[name], name
        assert batches[0] == 1 and batches[1] >= 3 if one_says["rows_read"] else batches == (0, 0), name
        assert many_says == one_says, name
        assert one_says["rows_extracted"] == changes.height, name


class CrashBetweenBatches(DeltaIOManager):
    """Dies once the Delta write has taken two batches of the rows, before its commit."""

    def handle_output(self, context: dg.OutputContext, obj: RowBatches) -> None:
        def dying() -> Iterator[pl.DataFrame]:
            for number, batch in enumerate(obj.batches):
                if number == 2:
                    raise dg.Failure(description="crashed between batches", allow_retries=False)
                yield batch

        super().handle_output(context, replace(obj, batches=dying()))


def test_a_crash_between_batches_leaves_raw_as_it_was_and_the_run_again_lands_each_change_once(
    paused, instance, tmp_path
):
    data_dir = paused.copy(tmp_path / "crashed")
    before = raw_table(data_dir, "customers")

    crashed = extract(instance, data_dir, ("customers",), batch_rows=3, io_manager=CrashBetweenBatches)
    assert not crashed.success
    assert raw_table(data_dir, "customers").equals(before)
    [failure] = crashed.get_step_failure_events()
    assert "crashed between batches" in failure.step_failure_data.user_failure_data.description

    rerun = extract(instance, data_dir, ("customers",), batch_rows=3)
    again = extract(instance, data_dir, ("customers",), batch_rows=3)

    assert rerun.success and again.success
    landed = appended(data_dir, "customers", rerun.run_id)
    changes = changes_during_the_pause(paused, "customers")
    assert landed.filter(~TOMBSTONE).select(changes.columns).sort(pl.all()).equals(changes)
    assert landed.filter(TOMBSTONE).get_column("customer_id").to_list() == purged_during_the_pause(
        paused, "customers"
    )
    assert raw_table(data_dir, "customers").height == before.height + landed.height
    said = reported(again, "customers")
    assert (said["rows_extracted"], said["rows_hard_deleted"]) == (0, 0)
    assert said["data_version"] == reported(rerun, "customers")["data_version"] == rerun.run_id
