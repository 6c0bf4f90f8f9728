"""Extraction from a real SQLite shop database: incremental by watermark, typed, clear errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
import pytest

from lakehouse.sources.shop_db import ShopDatabase, SourceSchemaError, SourceUnavailableError, redacted
from lakehouse.sources.shop_tables import SHOP_TABLES

PRODUCTS = SHOP_TABLES["products"]
CUSTOMERS = SHOP_TABLES["customers"]
T1, T2, T3 = (f"2025-01-0{d}T06:00:00.000000Z" for d in (1, 2, 3))

PRODUCTS_DDL = (
    "CREATE TABLE products (product_id INTEGER, sku TEXT, name TEXT, category TEXT, "
    "unit_price REAL, updated_at TEXT)"
)
CUSTOMERS_DDL = (
    "CREATE TABLE customers (customer_id INTEGER, email TEXT, first_name TEXT, last_name TEXT, "
    "country TEXT, signup_at TEXT, updated_at TEXT)"
)


def database(path: Path, ddl: str, rows: list[tuple]) -> ShopDatabase:
    with sqlite3.connect(path) as conn:
        conn.execute(ddl)
        if rows:
            marks = ",".join("?" * len(rows[0]))
            table = ddl.split()[2]
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    conn.close()
    return ShopDatabase(uri=f"sqlite:///{path}")


@pytest.fixture
def shop(tmp_path: Path) -> ShopDatabase:
    return database(
        tmp_path / "shop.db",
        PRODUCTS_DDL,
        [
            (1, "SKU-1", "Mug", "kitchen", 12.5, T1),
            (2, "SKU-2", "Lamp", "home", None, T2),
            (3, "SKU-3", "Desk", "home", 199.99, T3),
        ],
    )


def test_without_a_watermark_every_row_is_extracted_with_the_declared_types(shop):
    rows = shop.extract_changes(PRODUCTS, None)

    assert dict(rows.schema) == PRODUCTS.columns
    assert rows.sort("product_id").rows() == [
        (1, "SKU-1", "Mug", "kitchen", 12.5, T1),
        (2, "SKU-2", "Lamp", "home", None, T2),
        (3, "SKU-3", "Desk", "home", 199.99, T3),
    ]


def test_with_a_watermark_only_rows_strictly_after_it_are_extracted(shop):
    after_t2 = shop.extract_changes(PRODUCTS, T2)
    after_t1 = shop.extract_changes(PRODUCTS, T1)

    assert after_t2.get_column("product_id").to_list() == [3]
    assert sorted(after_t1.get_column("product_id").to_list()) == [2, 3]


def test_a_watermark_after_every_row_gives_an_empty_typed_frame(shop):
    rows = shop.extract_changes(PRODUCTS, "2030-01-01T00:00:00.000000Z")

    assert rows.height == 0
    assert dict(rows.schema) == PRODUCTS.columns


def test_a_missing_database_file_is_unavailable_and_is_not_created(tmp_path):
    path = tmp_path / "nowhere" / "shop.db"
    uri = f"sqlite:///{path}"

    with pytest.raises(SourceUnavailableError) as error:
        ShopDatabase(uri=uri).extract_changes(PRODUCTS, None)

    assert uri in str(error.value)
    assert not path.exists()
    assert not path.parent.exists()


def test_an_unsupported_uri_scheme_is_unavailable():
    with pytest.raises(SourceUnavailableError, match="postgresql://shop/db: unsupported URI scheme"):
        ShopDatabase(uri="postgresql://shop/db").extract_changes(PRODUCTS, None)


def test_a_table_lacking_a_column_names_table_and_column(tmp_path):
    shop = database(
        tmp_path / "shop.db",
        "CREATE TABLE products (product_id INTEGER, sku TEXT, name TEXT, unit_price REAL, updated_at TEXT)",
        [(1, "SKU-1", "Mug", 12.5, T1)],
    )

    with pytest.raises(SourceSchemaError) as error:
        shop.extract_changes(PRODUCTS, None)

    assert "shop.products lacks column(s) category" in str(error.value)
    assert "rule: source_schema" in str(error.value)


def test_a_missing_table_is_a_schema_error_naming_it(tmp_path):
    shop = database(tmp_path / "shop.db", CUSTOMERS_DDL, [])

    with pytest.raises(SourceSchemaError, match=r"shop\.products: cannot read the table"):
        shop.extract_changes(PRODUCTS, None)


def test_a_value_that_does_not_fit_its_declared_type_stops_the_batch(tmp_path):
    shop = database(
        tmp_path / "shop.db",
        PRODUCTS_DDL,
        [(1, "SKU-1", "Mug", "kitchen", 12.5, T1), (2, "SKU-2", "Lamp", "home", "twelve", T2)],
    )

    with pytest.raises(SourceSchemaError) as error:
        shop.extract_changes(PRODUCTS, None)

    assert "shop.products: 1 row(s) hold values that do not fit" in str(error.value)
    assert "rule: source_types" in str(error.value)
    assert "'unit_price': 'twelve'" in str(error.value)


def test_a_text_column_that_starts_with_many_nulls_is_still_extracted(tmp_path):
    """The docstring's promise: a column that starts NULL and later holds values must not fail.

    The ADBC SQLite driver infers each column's type from its first batch (1024 rows); a column
    NULL throughout that batch is inferred as int64 even under CAST(... AS TEXT).
    """
    leading_nulls = 1024
    rows = [
        (i, f"c{i}@example.com", None if i <= leading_nulls else "Ann", "Lee", "DE", None, T1)
        for i in range(1, leading_nulls + 3)
    ]
    shop = database(tmp_path / "shop.db", CUSTOMERS_DDL, rows)

    extracted = shop.extract_changes(CUSTOMERS, None)

    assert extracted.height == leading_nulls + 2
    assert extracted.get_column("first_name").drop_nulls().to_list() == ["Ann", "Ann"]
    assert extracted.get_column("customer_id").max() == leading_nulls + 2
    assert extracted.schema["first_name"] == pl.String


def test_credentials_never_appear_in_messages():
    assert redacted("postgresql://shop:s3cret@db:5432/shop") == "postgresql://shop:***@db:5432/shop"
    with pytest.raises(SourceUnavailableError) as error:
        ShopDatabase(uri="postgresql://shop:s3cret@db/shop").extract_changes(SHOP_TABLES["orders"], None)
    assert "s3cret" not in str(error.value)
