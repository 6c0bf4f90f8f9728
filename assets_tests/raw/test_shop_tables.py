"""Raw shop tables: appended by `updated_at` watermark, one batch per extracted window."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse.raw.shop_tables import build_raw_shop_asset, current_watermark
from lakehouse.sources.shop_db import ShopDatabase
from lakehouse.sources.shop_tables import SHOP_TABLES
from lakehouse.storage.io_manager import DeltaIOManager
from lakehouse.storage.store import DeltaStore

PRODUCTS = SHOP_TABLES["products"]
RAW_PRODUCTS = dg.AssetKey(["raw", "products"])
T1, T2, T3 = (f"2025-01-0{d}T06:00:00.000000Z" for d in (1, 2, 3))


@pytest.fixture
def shop_path(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE products (product_id INTEGER, sku TEXT, name TEXT, category TEXT, "
            "unit_price REAL, updated_at TEXT)"
        )
        conn.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)",
            [(1, "SKU-1", "Mug", "kitchen", 12.5, T1), (2, "SKU-2", "Lamp", "home", 30.0, T2)],
        )
    conn.close()
    return path


def materialise(instance: dg.DagsterInstance, shop_path: Path, store: DeltaStore):
    return dg.materialize(
        [build_raw_shop_asset(PRODUCTS)],
        instance=instance,
        resources={
            "shop_db": ShopDatabase(uri=f"sqlite:///{shop_path}"),
            "store": store,
            "io_manager": DeltaIOManager(store=store),
        },
    )


def test_watermark_is_none_before_the_first_extraction(tmp_path):
    assert current_watermark(DeltaStore(root=str(tmp_path)), RAW_PRODUCTS, "updated_at") is None


def test_extracts_everything_then_only_rows_changed_since(instance, shop_path, tmp_path):
    store = DeltaStore(root=str(tmp_path / "tables"))

    first = materialise(instance, shop_path, store)
    assert first.success
    assert current_watermark(store, RAW_PRODUCTS, "updated_at") == T2

    with sqlite3.connect(shop_path) as conn:
        conn.execute("UPDATE products SET unit_price = 11.0, updated_at = ? WHERE product_id = 1", (T3,))
    conn.close()
    second = materialise(instance, shop_path, store)
    assert second.success

    raw = store.scan(RAW_PRODUCTS).sort("_batch_id", "_row_number").collect()
    assert raw.select("product_id", "unit_price", "_batch_id", "_row_number", "_source").rows() == [
        (1, 11.0, f"shop.products:{T2}..{T3}", 1, "shop.products"),
        (1, 12.5, f"shop.products:start..{T2}", 1, "shop.products"),
        (2, 30.0, f"shop.products:start..{T2}", 2, "shop.products"),
    ]
    assert raw.schema["_ingested_at"] == pl.Datetime("us", "UTC")
    assert current_watermark(store, RAW_PRODUCTS, "updated_at") == T3

    third = materialise(instance, shop_path, store)  # nothing changed: nothing appended
    assert third.success
    assert store.scan(RAW_PRODUCTS).select(pl.len()).collect().item() == 3
