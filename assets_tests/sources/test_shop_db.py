"""Extraction from a real SQLite file and a real PostgreSQL server: incremental by watermark, typed,
streamed in batches, clear errors without credentials."""

from __future__ import annotations

import polars as pl
import pytest

from assets_tests.postgres_server import PASSWORD, PostgresServer
from lakehouse.components.declared import shop_tables
from lakehouse.sources import dialects
from lakehouse.sources.dialects import dialect
from lakehouse.sources.errors import (
    SourceConnectionError,
    SourceSchemaError,
    SourceUnavailableError,
    redacted,
)
from lakehouse.sources.shop_db import ShopDatabase

PRODUCTS = shop_tables()["products"]
CUSTOMERS = shop_tables()["customers"]
T1, T2, T3, T4 = (f"2025-01-0{d}T06:00:00.000000Z" for d in (1, 2, 3, 4))

# Types both databases know (SQLite reads them as INTEGER and REAL affinity).
PRODUCTS_DDL = (
    "CREATE TABLE products (product_id BIGINT, sku TEXT, name TEXT, category TEXT, "
    "unit_price DOUBLE PRECISION, updated_at TEXT, deleted_at TEXT)"
)
CUSTOMERS_DDL = (
    "CREATE TABLE customers (customer_id BIGINT, email TEXT, first_name TEXT, last_name TEXT, "
    "country TEXT, signup_at TEXT, updated_at TEXT, deleted_at TEXT)"
)


def _literal(value: object) -> str:
    return "NULL" if value is None else f"'{value}'" if isinstance(value, str) else str(value)


def database(uri: str, ddl: str, rows: list[tuple]) -> ShopDatabase:
    """A shop database at `uri` holding one table and its rows (SQL literals: same on both)."""
    with dialect(uri, must_exist=False).connect() as connection, connection.cursor() as cursor:
        cursor.execute(ddl)
        if rows:
            values = ", ".join(f"({', '.join(map(_literal, row))})" for row in rows)
            cursor.execute(f"INSERT INTO {ddl.split()[2]} VALUES {values}")
        connection.commit()
    return ShopDatabase(uri=uri)


@pytest.fixture
def shop(empty_database: str) -> ShopDatabase:
    return database(
        empty_database,
        PRODUCTS_DDL,
        [
            (1, "SKU-1", "Mug", "kitchen", 12.5, T1, None),
            (2, "SKU-2", "Lamp", "home", None, T2, None),
            (3, "SKU-3", "Desk", "home", 199.99, T3, T3),
        ],
    )


def test_without_a_watermark_every_row_is_extracted_with_the_declared_types(shop):
    rows = shop.extract_changes(PRODUCTS, None)

    assert dict(rows.schema) == PRODUCTS.columns
    assert rows.sort("product_id").rows() == [
        (1, "SKU-1", "Mug", "kitchen", 12.5, T1, None),
        (2, "SKU-2", "Lamp", "home", None, T2, None),
        (3, "SKU-3", "Desk", "home", 199.99, T3, T3),
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
    with pytest.raises(SourceUnavailableError, match="mysql://shop/db: unsupported URI scheme"):
        ShopDatabase(uri="mysql://shop/db").extract_changes(PRODUCTS, None)


def test_a_table_lacking_a_column_names_table_and_column(empty_database):
    shop = database(
        empty_database,
        "CREATE TABLE products (product_id BIGINT, sku TEXT, name TEXT, unit_price DOUBLE PRECISION, "
        "updated_at TEXT)",
        [(1, "SKU-1", "Mug", 12.5, T1)],
    )

    with pytest.raises(SourceSchemaError) as error:
        shop.extract_changes(PRODUCTS, None)

    assert "shop.products lacks column(s) category" in str(error.value)
    assert "rule: source_schema" in str(error.value)


def test_a_missing_table_is_a_schema_error_naming_it(empty_database):
    shop = database(empty_database, CUSTOMERS_DDL, [])

    with pytest.raises(SourceSchemaError, match=r"shop\.products: cannot read the table"):
        shop.extract_changes(PRODUCTS, None)


def test_a_value_that_does_not_fit_its_declared_type_stops_the_batch(tmp_path):
    """SQLite stores any value in any column; PostgreSQL would refuse the row."""
    shop = database(
        f"sqlite:///{tmp_path / 'shop.db'}",
        PRODUCTS_DDL,
        [(1, "SKU-1", "Mug", "kitchen", 12.5, T1, None), (2, "SKU-2", "Lamp", "home", "twelve", T2, None)],
    )

    with pytest.raises(SourceSchemaError) as error:
        shop.extract_changes(PRODUCTS, None)

    assert "shop.products: 1 row(s) hold values that do not fit" in str(error.value)
    assert "rule: source_types" in str(error.value)
    assert "'unit_price': 'twelve'" in str(error.value)


def test_a_column_of_another_type_names_the_value_that_does_not_fit(empty_database):
    """On PostgreSQL too: a price column created as TEXT holding a word."""
    shop = database(
        empty_database,
        PRODUCTS_DDL.replace("unit_price DOUBLE PRECISION", "unit_price TEXT"),
        [(1, "SKU-1", "Mug", "kitchen", "12.5", T1, None), (2, "SKU-2", "Lamp", "home", "twelve", T2, None)],
    )

    with pytest.raises(SourceSchemaError) as error:
        shop.extract_changes(PRODUCTS, None)

    assert "shop.products: 1 row(s) hold values that do not fit" in str(error.value)
    assert "'unit_price': 'twelve'" in str(error.value)


def test_a_text_column_that_starts_with_many_nulls_is_still_extracted(empty_database):
    """The docstring's promise: a column that starts NULL and later holds values must not fail.

    The ADBC SQLite driver infers each column's type from its first batch (1024 rows); a column
    NULL throughout that batch is inferred as int64 even under CAST(... AS TEXT).
    """
    leading_nulls = 1024
    rows = [
        (i, f"c{i}@example.com", None if i <= leading_nulls else "Ann", "Lee", "DE", None, T1, None)
        for i in range(1, leading_nulls + 3)
    ]
    shop = database(empty_database, CUSTOMERS_DDL, rows)

    extracted = shop.extract_changes(CUSTOMERS, None)

    assert extracted.height == leading_nulls + 2
    assert extracted.get_column("first_name").drop_nulls().to_list() == ["Ann", "Ann"]
    assert extracted.get_column("customer_id").max() == leading_nulls + 2
    assert extracted.schema["first_name"] == pl.String


@pytest.mark.parametrize("since", [None, "2024-12-31T00:00:00.000000Z"], ids=["full", "incremental"])
def test_large_tables_stream_in_bounded_batches_and_arrive_whole(empty_database, monkeypatch, since):
    """Small batches: many round trips, none larger than asked, every row once, typed."""
    monkeypatch.setattr(dialects, "BATCH_BYTES", 4096)
    rows = [(i, f"SKU-{i}", f"item {i}", "home", i / 100, T1, None) for i in range(1, 2001)]
    database(empty_database, PRODUCTS_DDL, rows)
    shop = ShopDatabase(uri=empty_database, batch_rows=100)

    batches = list(shop.stream_changes(PRODUCTS, since))

    assert len(batches) >= 20
    assert max(batch.height for batch in batches) <= 100
    assert pl.concat(batches).sort("product_id").rows() == rows


def test_the_key_list_streams_every_key_typed_in_bounded_batches(empty_database, monkeypatch):
    """What key reconciliation reads: key columns only, every row's key (a duplicate twice)."""
    monkeypatch.setattr(dialects, "BATCH_BYTES", 4096)
    rows = [(i, f"SKU-{i}", None, None, 1.0, T1, None) for i in range(1, 1001)]
    database(empty_database, PRODUCTS_DDL, [*rows, rows[0]])
    shop = ShopDatabase(uri=empty_database, batch_rows=100)

    batches = list(shop.stream_keys(PRODUCTS))

    assert len(batches) >= 3  # streamed: a batch is at most 100 rows (SQLite) or 4 KiB (PostgreSQL)
    keys = pl.concat(batches)
    assert dict(keys.schema) == {"product_id": pl.Int64}
    assert keys.sort("product_id").get_column("product_id").to_list() == [1, *range(1, 1001)]


@pytest.mark.parametrize(
    ("since", "expected"), [(None, range(1, 13)), (T1, range(7, 13))], ids=["full", "incremental"]
)
def test_changes_in_order_come_in_batches_that_never_split_a_change_time(empty_database, since, expected):
    """Read 3 rows at a time: every row once, in order of change (rows without a time first, ties
    by the other columns), and each change time in one batch (T1's 4 rows make a larger one)."""
    times = [None, None, T1, T1, T1, T1, T2, T3, T3, T3, T4, T4]
    rows = [(n, f"SKU-{n}", None, "home", 1.0, time, None) for n, time in enumerate(times, start=1)]
    database(empty_database, PRODUCTS_DDL, rows[::-1])
    shop = ShopDatabase(uri=empty_database, batch_rows=3)

    batches = list(shop.stream_changes_in_order(PRODUCTS, since))

    assert pl.concat(batches).get_column("product_id").to_list() == list(expected)
    assert len(batches) >= 2 and all(dict(batch.schema) == PRODUCTS.columns for batch in batches)
    spans = pl.concat(b.select("updated_at").unique().with_columns(batch=i) for i, b in enumerate(batches))
    assert not spans.get_column("updated_at").is_duplicated().any()
    # beyond the rows of its last change time, a batch holds at most the 3 rows of one read
    last_time = pl.col("updated_at").ne_missing(pl.col("updated_at").last())
    assert max(batch.filter(last_time).height for batch in batches) <= 3


def test_a_watermark_holding_a_quote_is_a_literal_not_sql(shop):
    """Compared as text (T2 sorts after it, T1 before), never run: `OR '1'='1'` would give all three."""
    rows = shop.extract_changes(PRODUCTS, "2025-01-02' OR '1'='1")

    assert sorted(rows.get_column("product_id").to_list()) == [2, 3]


def test_credentials_never_appear_in_messages():
    assert redacted("postgresql://shop:s3cret@db:5432/shop") == "postgresql://shop:***@db:5432/shop"
    assert redacted("postgresql://db/shop?user=shop&password=s3cret") == (
        "postgresql://db/shop?user=shop&password=***"
    )


def test_a_wrong_password_is_a_connection_error_without_the_password(postgres_server: PostgresServer):
    uri = postgres_server.uri(password="not-the-s3cret")

    with pytest.raises(SourceConnectionError) as error:
        ShopDatabase(uri=uri).extract_changes(PRODUCTS, None)

    message = str(error.value)
    assert "password authentication failed" in message
    assert f"postgresql://lakehouse:***@127.0.0.1:{postgres_server.port}/postgres" in message
    assert "not-the-s3cret" not in message and PASSWORD not in message
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_an_unreachable_server_is_a_connection_error():
    closed = f"postgresql://lakehouse:{PASSWORD}@127.0.0.1:1/postgres"

    with pytest.raises(SourceConnectionError, match="cannot connect") as error:
        ShopDatabase(uri=closed).extract_changes(PRODUCTS, None)

    assert PASSWORD not in str(error.value)
