"""The DuckDB resource every catalog connection comes from."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from lakehouse.serving.catalog import publish_catalog, views_over
from lakehouse.serving.resource import ServingCatalog


@pytest.fixture
def serving(tables_dir: Path, catalog_path: Path) -> ServingCatalog:
    write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [1, 2]}))
    serving = ServingCatalog(database=str(catalog_path))
    publish_catalog(tables_dir, serving)
    return serving


def test_readers_cannot_write(serving: ServingCatalog):
    with serving.get_connection() as con:
        assert con.sql("SELECT count(*), current_setting('TimeZone') FROM raw.events").fetchall() == [
            (2, "UTC")
        ]
        with pytest.raises(duckdb.InvalidInputException, match="read-only"):
            con.execute("CREATE TABLE raw.copy AS SELECT * FROM raw.events")


def test_a_connection_is_closed_even_when_its_block_fails(serving: ServingCatalog):
    with pytest.raises(ZeroDivisionError), serving.get_connection() as con:
        1 / 0  # noqa: B018
    with pytest.raises(duckdb.ConnectionException, match="closed"):
        con.execute("SELECT 1")


def test_the_writable_twin_keeps_the_settings_but_never_opens_the_published_file(
    serving: ServingCatalog, tmp_path: Path
):
    with pytest.raises(ValueError, match="is published"):
        serving.writable(serving.database)
    with serving.writable(tmp_path / "new.duckdb").get_connection() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert con.sql("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]


def test_views_over_reads_the_current_snapshot_the_published_catalog_does_not_yet(
    serving: ServingCatalog, tables_dir: Path
):
    write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [3]}), mode="append")

    with views_over(serving, tables_dir, ["raw.events"]) as con:
        assert con.sql("SELECT count(*) FROM raw.events").fetchall() == [(3,)]
        assert con.sql("SELECT version FROM _catalog.tables").fetchall() == [(1,)]
        assert con.sql("SELECT current_database()").fetchall() == [("memory",)]
    with serving.get_connection() as con:
        assert con.sql("SELECT count(*) FROM raw.events").fetchall() == [(2,)]
