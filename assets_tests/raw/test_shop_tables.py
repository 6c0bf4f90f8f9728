"""Raw shop tables: appended by `updated_at` watermark with an overlap window, every row version once."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse.raw.shop_tables import build_raw_shop_asset, current_watermark, window_start
from lakehouse.sources.errors import SourceSchemaError
from lakehouse.sources.shop_db import ShopDatabase
from lakehouse.sources.shop_tables import SHOP_TABLES
from lakehouse.storage.io_manager import DeltaIOManager
from lakehouse.storage.store import DeltaStore

PRODUCTS = SHOP_TABLES["products"]
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
            "unit_price REAL, updated_at TEXT)"
        )
    conn.close()
    insert(path, (1, "SKU-1", "Mug", "kitchen", 12.5, T1), (2, "SKU-2", "Lamp", "home", 30.0, T2))
    return path


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(root=str(tmp_path / "tables"))


def insert(shop_path: Path, *rows: tuple) -> None:
    """Commit rows to the source, as a late transaction would."""
    with sqlite3.connect(shop_path) as conn:
        conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.close()


def materialise(
    instance: dg.DagsterInstance, shop_path: Path, store: DeltaStore
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [build_raw_shop_asset(PRODUCTS)],
        instance=instance,
        resources={
            "shop_db": ShopDatabase(uri=f"sqlite:///{shop_path}"),
            "store": store,
            "io_manager": DeltaIOManager(store=store),
        },
    )
    assert result.success
    return result


def raw_rows(store: DeltaStore) -> list[tuple]:
    """(product_id, unit_price, updated_at, window of the batch) per raw row, the digest left out."""
    raw = store.scan(RAW_PRODUCTS).sort("_batch_id", "_row_number").collect()
    windows = raw.get_column("_batch_id").str.replace(r":[0-9a-f]{16}$", "")
    return raw.select("product_id", "unit_price", "updated_at").with_columns(windows).rows()


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def counts(result: dg.ExecuteInProcessResult) -> tuple[object, ...]:
    """(rows read in the window, of which raw already held, appended)."""
    values = metadata(result)
    return values["rows_read"], values["rows_already_in_raw"], values["rows_extracted"]


def test_watermark_is_none_before_the_first_extraction(store):
    assert current_watermark(store, RAW_PRODUCTS, "updated_at") is None


def test_the_window_starts_one_overlap_before_the_watermark():
    assert window_start(PRODUCTS, None) is None
    assert window_start(PRODUCTS, T2) == T2_MINUS_OVERLAP
    with pytest.raises(SourceSchemaError, match=r"shop\.products\.updated_at: watermark '2025-01-02'"):
        window_start(PRODUCTS, "2025-01-02")


def test_an_incremental_run_appends_exactly_the_changed_rows(instance, shop_path, store):
    materialise(instance, shop_path, store)
    assert current_watermark(store, RAW_PRODUCTS, "updated_at") == T2

    with sqlite3.connect(shop_path) as conn:
        conn.execute("UPDATE products SET unit_price = 11.0, updated_at = ? WHERE product_id = 1", (T3,))
    conn.close()
    second = materialise(instance, shop_path, store)

    assert raw_rows(store) == [
        (1, 11.0, T3, f"shop.products:{T2_MINUS_OVERLAP}..{T3}"),
        (1, 12.5, T1, f"shop.products:start..{T2}"),
        (2, 30.0, T2, f"shop.products:start..{T2}"),
    ]
    assert store.scan(RAW_PRODUCTS).collect_schema()["_ingested_at"] == pl.Datetime("us", "UTC")
    assert current_watermark(store, RAW_PRODUCTS, "updated_at") == T3
    # product 2 (at T2) was read again inside the overlap, and dropped: raw held it
    assert counts(second) == (2, 1, 1)


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
    assert current_watermark(store, RAW_PRODUCTS, "updated_at") == T2


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


def test_identical_source_rows_land_once_each_even_when_one_commits_late(instance, shop_path, store):
    """The legacy tables have no key: two identical rows are two rows, in raw as in the source."""
    duplicate = (5, "SKU-5", "Vase", "home", 15.0, T2)
    insert(shop_path, duplicate, duplicate)
    materialise(instance, shop_path, store)
    assert [row[0] for row in raw_rows(store)].count(5) == 2

    insert(shop_path, duplicate)  # a third copy, committed late with the same updated_at
    materialise(instance, shop_path, store)
    materialise(instance, shop_path, store)

    assert [row[0] for row in raw_rows(store)].count(5) == 3
    assert len(raw_rows(store)) == 5


def test_a_future_dated_row_is_ingested_once_and_does_not_stall_the_watermark(instance, shop_path, store):
    insert(shop_path, (6, "SKU-6", "Clock", "home", 9.0, FUTURE))
    first = materialise(instance, shop_path, store)

    assert metadata(first)["rows_future_dated"] == 1
    assert current_watermark(store, RAW_PRODUCTS, "updated_at") == T2

    insert(shop_path, (7, "SKU-7", "Chair", "home", 45.0, T3))
    materialise(instance, shop_path, store)
    materialise(instance, shop_path, store)

    assert sorted(row[0] for row in raw_rows(store)) == [1, 2, 6, 7]
    assert current_watermark(store, RAW_PRODUCTS, "updated_at") == T3


def test_batch_ids_name_the_window_and_differ_for_different_rows(instance, shop_path, store):
    materialise(instance, shop_path, store)
    insert(shop_path, (3, "SKU-3", "Desk", "home", 199.99, T2))  # late, same updated_at as product 2
    materialise(instance, shop_path, store)
    insert(shop_path, (4, "SKU-4", "Rug", "home", 80.0, T2))  # another, same window and same newest
    materialise(instance, shop_path, store)

    batches = store.scan(RAW_PRODUCTS).select("_batch_id").unique().collect().to_series().to_list()
    windows = sorted(re.sub(r":[0-9a-f]{16}$", "", b) for b in batches)
    assert windows == [
        f"shop.products:{T2_MINUS_OVERLAP}..{T2}",
        f"shop.products:{T2_MINUS_OVERLAP}..{T2}",
        f"shop.products:start..{T2}",
    ]
    assert sorted(row[0] for row in raw_rows(store)) == [1, 2, 3, 4]
