from __future__ import annotations

from datetime import date
from pathlib import Path

import adbc_driver_sqlite.dbapi as sqlite
import polars as pl

from assets_tests.postgres_server import PostgresServer
from assets_tests.simulator.helpers import payment_files
from lakehouse.components.declared import shop_tables
from lakehouse.simulator import DB_FILE, SCHEMAS, Params, build_state
from lakehouse.simulator.simulation import changed_keys
from lakehouse.simulator.writer import update_database, write_database
from lakehouse.sources.shop_db import ShopDatabase

EXPECTED_COLUMNS = {
    "customers": [
        ("customer_id", "INTEGER"),
        ("email", "TEXT"),
        ("first_name", "TEXT"),
        ("last_name", "TEXT"),
        ("country", "TEXT"),
        ("signup_at", "TEXT"),
        ("updated_at", "TEXT"),
        ("deleted_at", "TEXT"),
    ],
    "products": [
        ("product_id", "INTEGER"),
        ("sku", "TEXT"),
        ("name", "TEXT"),
        ("category", "TEXT"),
        ("unit_price", "REAL"),
        ("updated_at", "TEXT"),
        ("deleted_at", "TEXT"),
    ],
    "orders": [
        ("order_id", "INTEGER"),
        ("customer_id", "INTEGER"),
        ("order_at", "TEXT"),
        ("status", "TEXT"),
        ("currency", "TEXT"),
        ("channel", "TEXT"),
        ("updated_at", "TEXT"),
    ],
    "order_items": [
        ("order_id", "INTEGER"),
        ("line_no", "INTEGER"),
        ("product_id", "INTEGER"),
        ("quantity", "INTEGER"),
        ("unit_price", "REAL"),
        ("discount", "REAL"),
        ("updated_at", "TEXT"),
    ],
}


def _query(db: Path, sql: str) -> list[tuple]:
    with sqlite.connect(str(db)) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def test_tables_have_the_legacy_schema_without_keys(demo: Path) -> None:
    for table, columns in EXPECTED_COLUMNS.items():
        info = _query(demo / DB_FILE, f"PRAGMA table_info({table})")
        assert [(name, kind) for _, name, kind, *_ in info] == columns, table
        assert all(primary_key == 0 for *_, primary_key in info), table
    indexes = "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY tbl_name"
    assert _query(demo / DB_FILE, indexes) == [
        (name, f"CREATE INDEX {name}_updated_at ON {name} (updated_at)") for name in sorted(EXPECTED_COLUMNS)
    ]


def test_a_days_changes_are_read_through_the_index_on_updated_at(demo: Path) -> None:
    """An extraction's query finds the rows changed after its watermark without a table scan."""
    for table in EXPECTED_COLUMNS:
        changes = f"SELECT * FROM {table} WHERE updated_at > '2025-12-31'"
        plan = _query(demo / DB_FILE, f"EXPLAIN QUERY PLAN {changes}")
        assert [detail for *_, detail in plan] == [
            f"SEARCH {table} USING INDEX {table}_updated_at (updated_at>?)"
        ], table


def test_values_are_stored_with_their_declared_types(demo: Path) -> None:
    stored = _query(
        demo / DB_FILE,
        "SELECT DISTINCT typeof(order_id), typeof(line_no), typeof(product_id), typeof(quantity),"
        " typeof(unit_price), typeof(discount), typeof(updated_at) FROM order_items",
    )
    assert stored == [("integer", "integer", "integer", "integer", "real", "real", "text")]
    assert _query(demo / DB_FILE, "SELECT DISTINCT typeof(unit_price) FROM products ORDER BY 1") == [
        ("null",),
        ("real",),
    ]


def test_updated_at_sorts_as_text_in_time_order(demo: Path) -> None:
    for table in EXPECTED_COLUMNS:
        widths = _query(demo / DB_FILE, f"SELECT DISTINCT length(updated_at) FROM {table}")
        assert widths == [(27,)], table
    latest = _query(demo / DB_FILE, "SELECT max(updated_at) FROM orders")[0][0]
    assert latest.startswith("2025-12-31T")


def test_payment_files_have_a_header_and_one_file_per_day(demo: Path) -> None:
    files = payment_files(demo)

    assert len(files) == 364
    assert min(files) == "settlement_2025-01-02.csv"
    assert max(files) == "settlement_2025-12-31.csv"
    first = files["settlement_2025-01-02.csv"].decode().splitlines()
    assert first[0] == "payment_id,order_id,amount,currency,method,settled_at"
    fields = pl.Series(first[1:]).str.split(",")
    assert fields.list.get(0).str.contains(r"^pay_\d{9}$").all()
    assert fields.list.get(4).is_in(["card", "paypal", "bank_transfer"]).all()
    assert fields.list.get(5).str.contains(r"^2025-01-02T\d\d:\d\d:\d\dZ$").all()
    assert all(content.endswith(b"\n") and b'"' not in content for content in files.values())


def _contents(uri: str) -> dict[str, pl.DataFrame]:
    """Every table as a multiset of rows (sorted on every column), read back as the lakehouse does."""
    shop = ShopDatabase(uri=uri)
    return {table: shop.extract_changes(shop_tables()[table], None).sort(pl.all()) for table in SCHEMAS}


def test_write_database_replaces_any_previous_content(empty_database: str) -> None:
    tables = build_state(Params(scale=0.002, seed=3, start=date(2025, 1, 1), days=5)).sources.tables
    write_database(empty_database, tables)

    write_database(empty_database, tables)

    for table, frame in _contents(empty_database).items():
        assert frame.equals(tables[table].sort(pl.all())), table


def test_update_database_rewrites_only_the_changed_keys(empty_database: str) -> None:
    params = Params(scale=0.002, seed=3, start=date(2025, 1, 1), days=12)
    old = build_state(params).sources.tables
    new_state = build_state(Params(scale=0.002, seed=3, start=date(2025, 1, 1), days=13))
    new = new_state.sources.tables
    write_database(empty_database, old)

    changed = update_database(empty_database, new, changed_keys(new, new_state.manifest["deletes"], params))

    for table, frame in _contents(empty_database).items():
        assert frame.equals(new[table].sort(pl.all())), table
    new_orders = new["orders"].filter(pl.col("order_id") > old["orders"]["order_id"].max())
    # placed on day 10, final on day 12
    settled = old["orders"].filter(
        pl.col("status") == "placed", pl.col("updated_at").str.starts_with("2025-01-11")
    )
    assert changed == {
        "customers": new["customers"]["customer_id"].n_unique() - old["customers"]["customer_id"].n_unique(),
        "products": 0,
        "orders": new_orders["order_id"].n_unique() + settled["order_id"].n_unique(),
        "order_items": new["order_items"].height - old["order_items"].height,
    }


def test_postgresql_tables_keep_64_bit_integers_and_doubles(postgres_server: PostgresServer) -> None:
    import adbc_driver_postgresql.dbapi as postgresql  # only here: 0.5 s a collecting process

    uri = postgres_server.create_database("writer_types")
    tables = build_state(Params(scale=0.002, seed=3, start=date(2025, 1, 1), days=2)).sources.tables
    write_database(uri, tables)

    with postgresql.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
        declared = cursor.fetchall()
    pg_types = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text"}
    assert declared == [
        (table, column, pg_types[kind])
        for table in sorted(SCHEMAS)
        for column, kind in SCHEMAS[table].items()
    ]
