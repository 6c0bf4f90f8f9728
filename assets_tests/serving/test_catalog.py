from __future__ import annotations

import subprocess
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable, Field, write_deltalake

from assets_tests.serving.support import DUCKDB_CLI, cli_query, column_types, query
from lakehouse.defs.curated.dimensions import DIM_CUSTOMER_TABLE
from lakehouse.serving.catalog import UnservableTableError, check_servable, publish_catalog


def test_one_schema_per_layer_and_one_view_per_table(tables_dir: Path, catalog_path: Path):
    for layer, table, rows in [("raw", "orders", 3), ("refined", "orders", 2), ("curated", "x", 1)]:
        write_deltalake(tables_dir / layer / table, pa.table({"id": list(range(rows))}))

    summary = publish_catalog(tables_dir, catalog_path)

    assert summary.tables == {"curated.x": 0, "raw.orders": 0, "refined.orders": 0}
    assert summary.catalog_path == catalog_path
    assert query(
        catalog_path,
        "SELECT (SELECT count(*) FROM raw.orders), (SELECT count(*) FROM refined.orders), "
        "(SELECT sum(id) FROM curated.x)",
    ) == [(3, 2, 0)]
    assert sorted(path.name for path in catalog_path.parent.iterdir()) == [
        "lakehouse.duckdb",
        "lakehouse.duckdb.lock",
        "tables",
    ]


def test_polars_string_view_columns_can_be_filtered(tables_dir: Path, catalog_path: Path):
    frame = pl.DataFrame({"city": ["Oslo", "Lima", "Oslo"], "amount": [1.5, 2.0, 4.0]})
    frame.write_delta(tables_dir / "raw" / "sales")

    publish_catalog(tables_dir, catalog_path)

    assert query(catalog_path, "SELECT sum(amount) FROM raw.sales WHERE city = 'Oslo'") == [(5.5,)]
    assert column_types(catalog_path, "raw.sales") == {"city": "VARCHAR", "amount": "DOUBLE"}


def test_a_column_added_later_is_null_in_older_files(tables_dir: Path, catalog_path: Path):
    path = tables_dir / "raw" / "customers"
    pl.DataFrame({"id": [1, 2], "name": ["a", "b"]}).write_delta(path)
    pl.DataFrame({"id": [3], "name": ["c"], "tier": ["gold"]}).write_delta(
        path, mode="append", delta_write_options={"schema_mode": "merge"}
    )

    publish_catalog(tables_dir, catalog_path)

    assert query(catalog_path, "SELECT id, name, tier FROM raw.customers ORDER BY id") == [
        (1, "a", None),
        (2, "b", None),
        (3, "c", "gold"),
    ]


def test_a_view_reads_its_files_by_name_only_when_their_columns_differ(tables_dir: Path, catalog_path: Path):
    # by name, DuckDB opens every file's footer whenever a query binds the view
    same, evolved = tables_dir / "raw" / "orders", tables_dir / "raw" / "customers"
    for day in (1, 2):
        pl.DataFrame({"id": [day], "day": [day]}).write_delta(same, mode="append")
    pl.DataFrame({"id": [1]}).write_delta(evolved)
    pl.DataFrame({"id": [2], "tier": [7]}).write_delta(
        evolved, mode="append", delta_write_options={"schema_mode": "merge"}
    )

    publish_catalog(tables_dir, catalog_path)

    with duckdb.connect(str(catalog_path), read_only=True) as con:
        views = dict(
            con.execute("SELECT view_name, sql FROM duckdb_views() WHERE schema_name = 'raw'").fetchall()
        )
    assert "union_by_name = false" in views["orders"] and "union_by_name = true" in views["customers"]
    assert query(catalog_path, "SELECT id, day FROM raw.orders ORDER BY id") == [(1, 1), (2, 2)]
    assert query(catalog_path, "SELECT id, tier FROM raw.customers ORDER BY id") == [(1, None), (2, 7)]


def test_a_column_in_no_file_yet_is_a_typed_null(tables_dir: Path, catalog_path: Path):
    path = tables_dir / "refined" / "products"
    write_deltalake(path, pa.table({"id": [1, 2]}))
    DeltaTable(path).alter.add_columns(Field("price", "decimal(10,2)"))

    publish_catalog(tables_dir, catalog_path)

    assert column_types(catalog_path, "refined.products") == {
        "id": "BIGINT",
        "price": "DECIMAL(10,2)",
    }
    assert query(catalog_path, "SELECT count(*), count(price) FROM refined.products") == [(2, 0)]


def test_partition_columns_are_typed_and_keep_the_delta_column_order(tables_dir: Path, catalog_path: Path):
    frame = pl.DataFrame(
        {
            "order_date": [date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 2), None],
            "channel": ["web", "app/ios", "web", "web"],
            "amount": [10, 20, 30, 40],
        }
    )
    frame.write_delta(
        tables_dir / "curated" / "daily",
        delta_write_options={"partition_by": ["order_date", "channel"]},
    )

    publish_catalog(tables_dir, catalog_path)

    assert column_types(catalog_path, "curated.daily") == {
        "order_date": "DATE",
        "channel": "VARCHAR",
        "amount": "BIGINT",
    }
    assert query(
        catalog_path,
        "SELECT order_date, channel, sum(amount) FROM curated.daily "
        "GROUP BY ALL ORDER BY order_date NULLS LAST, channel",
    ) == [
        (date(2024, 1, 1), "app/ios", 20),
        (date(2024, 1, 1), "web", 10),
        (date(2024, 1, 2), "web", 30),
        (None, "web", 40),
    ]
    assert query(
        catalog_path, "SELECT sum(amount) FROM curated.daily WHERE order_date = DATE '2024-01-01'"
    ) == [(30,)]


EMPTY_SCHEMA = pa.schema(
    [
        ("amount", pa.decimal128(12, 2)),
        ("paid_at", pa.timestamp("us", tz="UTC")),
        ("shipped_at", pa.timestamp("us")),
        ("day", pa.date32()),
        ("name", pa.string()),
        ("note", pa.large_string()),
        ("label", pa.string_view()),
        ("count", pa.int32()),
        ("total", pa.int64()),
        ("ratio", pa.float64()),
        ("flag", pa.bool_()),
        ("tags", pa.list_(pa.string())),
    ]
)

EMPTY_TYPES = {
    "amount": "DECIMAL(12,2)",
    "paid_at": "TIMESTAMP WITH TIME ZONE",
    "shipped_at": "TIMESTAMP",
    "day": "DATE",
    "name": "VARCHAR",
    "note": "VARCHAR",
    "label": "VARCHAR",
    "count": "INTEGER",
    "total": "BIGINT",
    "ratio": "DOUBLE",
    "flag": "BOOLEAN",
    "tags": "VARCHAR[]",
}


@pytest.mark.parametrize("partition_by", [None, ["day"]])
def test_an_empty_table_has_its_columns_and_no_rows(
    tables_dir: Path, catalog_path: Path, partition_by: list[str] | None
):
    write_deltalake(
        tables_dir / "quarantine" / "orders", EMPTY_SCHEMA.empty_table(), partition_by=partition_by
    )
    assert DeltaTable(tables_dir / "quarantine" / "orders").file_uris() == []

    publish_catalog(tables_dir, catalog_path)

    assert column_types(catalog_path, "quarantine.orders") == EMPTY_TYPES
    assert query(catalog_path, "SELECT count(*) FROM quarantine.orders") == [(0,)]


def test_every_type_reads_back_exactly(tables_dir: Path, catalog_path: Path):
    row = {
        "amount": Decimal("12.34"),
        "paid_at": datetime(2024, 3, 1, 12, 30, tzinfo=UTC),
        "shipped_at": datetime(2024, 3, 1, 12, 30),
        "day": date(2024, 3, 1),
        "name": "n",
        "note": "o",
        "label": "l",
        "count": 1,
        "total": 2,
        "ratio": 0.5,
        "flag": True,
        "tags": ["a", "b"],
    }
    write_deltalake(tables_dir / "raw" / "typed", pa.Table.from_pylist([row], EMPTY_SCHEMA))

    publish_catalog(tables_dir, catalog_path)

    assert column_types(catalog_path, "raw.typed") == EMPTY_TYPES
    assert query(catalog_path, "SELECT * FROM raw.typed") == [tuple(row.values())]


def test_the_index_lists_every_published_table(tables_dir: Path, catalog_path: Path):
    write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [1, 2], "kind": ["a", "b"]}))
    write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [3], "kind": ["c"]}), mode="append")
    write_deltalake(tables_dir / "curated" / "empty", pa.table({"id": pa.array([], pa.int64())}))
    before = datetime.now(UTC)

    publish_catalog(tables_dir, catalog_path)

    rows = query(
        catalog_path,
        "SELECT layer, table_name, version, path, column_count, row_count, file_count, "
        "size_bytes > 0, published_at FROM _catalog.tables ORDER BY layer",
    )
    published_at = rows[0][-1]
    assert [row[:-1] for row in rows] == [
        ("curated", "empty", 0, "curated/empty", 1, 0, 0, False),
        ("raw", "events", 1, "raw/events", 2, 3, 2, True),
    ]
    assert before <= published_at <= datetime.now(UTC)


def test_republishing_shows_the_new_version(tables_dir: Path, catalog_path: Path):
    path = tables_dir / "raw" / "events"
    write_deltalake(path, pa.table({"id": [1, 2]}))
    publish_catalog(tables_dir, catalog_path)
    write_deltalake(path, pa.table({"id": [3]}), mode="append")

    summary = publish_catalog(tables_dir, catalog_path)

    assert summary.tables == {"raw.events": 1}
    assert query(catalog_path, "SELECT count(*), sum(id) FROM raw.events") == [(3, 6)]


def test_a_merge_is_served_without_the_rewritten_files(tables_dir: Path, catalog_path: Path):
    path = tables_dir / "refined" / "customers"
    write_deltalake(path, pa.table({"id": [1, 2], "tier": ["bronze", "silver"]}))
    (
        DeltaTable(path)
        .merge(
            pa.table({"id": [2, 3], "tier": ["gold", "bronze"]}),
            predicate="t.id = s.id",
            source_alias="s",
            target_alias="t",
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )

    publish_catalog(tables_dir, catalog_path)

    assert query(catalog_path, "SELECT id, tier FROM refined.customers ORDER BY id") == [
        (1, "bronze"),
        (2, "gold"),
        (3, "bronze"),
    ]


def test_delta_rs_writes_neither_deletion_vectors_nor_column_mapping(tables_dir: Path):
    path = tables_dir / "refined" / "customers"
    pl.DataFrame({"id": [1, 2], "name": ["a", "b"]}).write_delta(path)
    write_deltalake(path, pa.table({"id": [3], "name": ["c"]}), mode="append")
    DeltaTable(path).merge(
        pa.table({"id": [1], "name": ["z"]}), "t.id = s.id", source_alias="s", target_alias="t"
    ).when_matched_update_all().execute()
    DeltaTable(path).delete("id = 2")

    table = DeltaTable(path)
    protocol = table.protocol()
    assert table.version() == 3
    assert (protocol.min_reader_version, protocol.reader_features) == (1, None)
    assert table.metadata().configuration == {}
    check_servable("refined.customers", protocol, table.metadata().configuration)


@pytest.mark.parametrize(
    ("configuration", "feature"),
    [
        ({"delta.enableDeletionVectors": "true"}, "deletion vectors"),
        ({"delta.columnMapping.mode": "name"}, "column mapping"),
    ],
)
def test_publishing_refuses_tables_a_file_view_would_get_wrong(
    tables_dir: Path, catalog_path: Path, configuration: dict[str, str], feature: str
):
    write_deltalake(tables_dir / "raw" / "fine", pa.table({"id": [1]}))
    publish_catalog(tables_dir, catalog_path)
    write_deltalake(tables_dir / "raw" / "odd", pa.table({"id": [1]}), configuration=configuration)

    with pytest.raises(UnservableTableError, match=rf"raw\.odd .*{feature}"):
        publish_catalog(tables_dir, catalog_path)

    assert query(catalog_path, "SELECT table_name FROM _catalog.tables") == [("fine",)]


def test_the_guard_reads_reader_features_too():
    protocol = SimpleNamespace(reader_features=["deletionVectors"])

    with pytest.raises(UnservableTableError, match=r"curated\.sales uses Delta deletion vectors"):
        check_servable("curated.sales", protocol, {})


def test_an_empty_lakehouse_publishes_an_empty_index(tables_dir: Path, catalog_path: Path):
    (tables_dir / "raw" / "being_created" / "_delta_log").mkdir(parents=True)

    summary = publish_catalog(tables_dir, catalog_path)

    assert summary.tables == {}
    assert query(catalog_path, "SELECT count(*) FROM _catalog.tables") == [(0,)]


def test_concurrent_publishers_leave_the_catalog_at_the_last_commit(tables_dir: Path, catalog_path: Path):
    """Each thread commits, then publishes; without the lock a slower, older publish could win."""
    rounds, writers = 5, 4

    def commit_and_publish(writer: int) -> None:
        for _ in range(rounds):
            write_deltalake(tables_dir / "raw" / f"t{writer}", pa.table({"id": [1]}), mode="append")
            publish_catalog(tables_dir, catalog_path)

    threads = [threading.Thread(target=commit_and_publish, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    counts = " UNION ALL ".join(f"SELECT count(*) FROM raw.t{i}" for i in range(writers))
    assert query(catalog_path, counts) == [(rounds,)] * writers
    assert not list(catalog_path.parent.glob("*.tmp*"))


def test_curated_views_carry_their_contracts_descriptions_as_comments(lakehouse):
    with duckdb.connect(str(lakehouse.settings.catalog_path), read_only=True) as con:
        view = con.sql(
            "SELECT comment FROM duckdb_views() WHERE schema_name = 'curated' AND view_name = 'dim_customer'"
        ).fetchall()
        columns = dict(
            con.sql(
                "SELECT column_name, comment FROM duckdb_columns() "
                "WHERE schema_name = 'curated' AND table_name = 'fact_payments'"
            ).fetchall()
        )
        refined = con.sql(
            "SELECT comment FROM duckdb_views() WHERE schema_name = 'refined' AND view_name = 'orders'"
        ).fetchall()

    assert view[0][0] == " ".join(DIM_CUSTOMER_TABLE.description.split())
    assert columns["amount_usd"] == "Amount in USD, rounded to cents."
    assert columns["_built_at"] == "When this row was built."
    assert refined == [(None,)]  # only the curated tables are documented in the catalog


def test_direct_pii_named_by_the_write_spec_is_served_masked(tables_dir: Path, catalog_path: Path):
    from lakehouse.lib.storage import delta_tables
    from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec
    from lakehouse.serving.resource import ServingCatalog

    people = pl.DataFrame({"id": [1, 2], "name": ["Ann Lee", None], "_batch_id": "b1"})
    spec = WriteSpec(WriteMode.APPEND, direct_pii=("name",))
    delta_tables.write(str(tables_dir / "raw" / "people"), people, spec, {})
    publish_catalog(tables_dir, catalog_path)

    sql = "SELECT id, name FROM raw.people ORDER BY id"
    assert query(catalog_path, sql) == [(1, "***"), (2, None)]
    privileged = ServingCatalog(database=str(catalog_path), clear_pii_purpose="a test")
    with privileged.get_connection() as con:
        assert con.sql(sql).fetchall() == [(1, "Ann Lee"), (2, None)]


def test_a_duckdb_1x_client_opens_the_catalog_read_only(tables_dir: Path, catalog_path: Path):
    write_deltalake(tables_dir / "raw" / "orders", pa.table({"id": [1, 2, 3]}))

    publish_catalog(tables_dir, catalog_path)

    assert cli_query(catalog_path, "SELECT version()") == [["v1.5.6"]]
    assert cli_query(catalog_path, "SELECT sum(id) FROM raw.orders") == [["6"]]


def test_a_catalog_left_in_a_newer_format_is_rewritten_by_the_next_publish(
    tables_dir: Path, catalog_path: Path
):
    write_deltalake(tables_dir / "raw" / "orders", pa.table({"id": [1]}))
    duckdb.connect(str(catalog_path)).close()  # DuckDB 2's default: the newest storage format
    assert subprocess.run([str(DUCKDB_CLI), "-readonly", str(catalog_path), "-c", "SELECT 1"]).returncode

    publish_catalog(tables_dir, catalog_path)

    assert cli_query(catalog_path, "SELECT count(*) FROM raw.orders") == [["1"]]


def test_the_duckdb_1x_client_answers_over_every_layer_of_a_built_lakehouse(lakehouse):
    """The same answers as DuckDB 2, from a table of each layer (views over the Delta files)."""
    sql = (
        "SELECT (SELECT count(*) FROM raw.orders), (SELECT count(*) FROM refined.orders), "
        "(SELECT count(*) FROM quarantine.order_items), (SELECT sum(net_usd) FROM curated.fact_order_items)"
    )
    expected = query(lakehouse.settings.catalog_path, sql)

    assert cli_query(lakehouse.settings.catalog_path, sql) == [[str(value) for value in expected[0]]]
    assert all(expected[0])
