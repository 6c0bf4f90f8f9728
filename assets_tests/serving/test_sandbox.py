"""The sandbox of ad-hoc SQL: every trick of issue 13 is refused, says why, and writes nothing."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse.serving.catalog import publish_catalog
from lakehouse.serving.query import connect_read_only, run_query
from lakehouse.serving.resource import ServingCatalog
from lakehouse.serving.sandbox import SandboxError, StatementTimeoutError
from lakehouse.settings import get_settings

NOT_A_QUERY = "statements are not allowed: the SQL sandbox is read-only"
NO_FILES = "reading or writing files is not allowed in the SQL sandbox"


@pytest.fixture
def serving(tmp_path: Path, tables_dir: Path, catalog_path: Path) -> ServingCatalog:
    """A published catalog of `raw.events` (rows 1, 2), and files outside the tables folder."""
    write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [1, 2]}))
    serving = ServingCatalog(database=str(catalog_path), memory_limit="256MB", threads=1)
    publish_catalog(tables_dir, serving)
    for folder in ("outside", "tables2"):  # `tables2`: a sibling sharing the folder's name as prefix
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "secret.csv").write_text("secret\nhunter2\n")
    return serving


def _data_file(tables_dir: Path) -> str:
    """A live Delta data file of `raw.events`: the file a forged row would overwrite."""
    return DeltaTable(tables_dir / "raw" / "events").file_uris()[0].removeprefix("file://")


def _files(root: Path) -> dict[str, str]:
    """Every file under `root` and a hash of its content: what a refused statement must not change."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


NOT_QUERIES = {
    "copy over a live data file": "COPY (SELECT 42 AS id) TO '{data_file}' (FORMAT parquet)",
    "copy to a new file": "COPY (SELECT 42) TO '{tmp}/out.csv'",
    "export the database": "EXPORT DATABASE '{tmp}/export'",
    "attach a new database": "ATTACH '{tmp}/new.duckdb' (READ_WRITE)",
    "attach in memory": "ATTACH ':memory:' AS scratch",
    "raise the memory limit": "SET memory_limit = '100GB'",
    "reset the memory limit": "RESET memory_limit",
    "turn external access on": "SET enable_external_access = true",
    "switch database": "USE system",
    "show the catalog's path": "PRAGMA database_list",
    "install an extension": "INSTALL httpfs",
    "load an extension": "LOAD httpfs",
    "create a temporary table": "CREATE TEMP TABLE t AS SELECT 1",
    "checkpoint": "CHECKPOINT",
    "a write after a query": "SELECT 1; COPY (SELECT 42) TO '{tmp}/out.csv'",
}


@pytest.mark.parametrize("statement", NOT_QUERIES.values(), ids=NOT_QUERIES.keys())
def test_anything_but_a_query_is_refused_and_writes_nothing(
    serving: ServingCatalog, tmp_path: Path, tables_dir: Path, statement: str
):
    before = _files(tmp_path)
    sql = statement.format(tmp=tmp_path, data_file=_data_file(tables_dir))

    with pytest.raises(SandboxError, match=NOT_A_QUERY):
        run_query(serving, sql)

    assert _files(tmp_path) == before
    assert run_query(serving, "SELECT sum(id) AS total FROM raw.events")["total"].to_pylist() == [3]


FILE_READS = {
    "read_csv": "SELECT * FROM read_csv('{tmp}/outside/secret.csv')",
    "a file as a table": "SELECT * FROM '{tmp}/outside/secret.csv'",
    "a sibling folder": "SELECT * FROM read_csv('{tmp}/tables2/secret.csv')",
    "out of the tables folder": "SELECT * FROM read_csv('{tables}/../outside/secret.csv')",
    "a file URI": "SELECT * FROM read_csv('file://{tmp}/outside/secret.csv')",
    "read_text": "SELECT * FROM read_text('{tmp}/outside/secret.csv')",
    "read_blob": "SELECT * FROM read_blob('{tmp}/outside/secret.csv')",
    "read_json": "SELECT * FROM read_json('{tmp}/outside/secret.csv')",
    "sniff_csv": "SELECT * FROM sniff_csv('{tmp}/outside/secret.csv')",
    "glob": "SELECT * FROM glob('{tmp}/outside/*')",
    "read_parquet": "SELECT * FROM read_parquet('{tmp}/outside/*.parquet')",
    "a URL": "SELECT * FROM read_csv('https://example.com/data.csv')",
}


@pytest.mark.parametrize("statement", FILE_READS.values(), ids=FILE_READS.keys())
def test_files_outside_the_tables_folder_cannot_be_read(
    serving: ServingCatalog, tmp_path: Path, tables_dir: Path, statement: str
):
    before = _files(tmp_path)

    with pytest.raises(SandboxError, match=NO_FILES):
        run_query(serving, statement.format(tmp=tmp_path, tables=tables_dir))

    assert _files(tmp_path) == before


def test_queries_read_the_views_and_the_lakehouse_own_table_files(serving: ServingCatalog, tables_dir: Path):
    assert run_query(serving, "SELECT id FROM raw.events ORDER BY id")["id"].to_pylist() == [1, 2]
    assert run_query(serving, "FROM read_parquet($file)", {"file": _data_file(tables_dir)}).num_rows == 2
    assert sorted(run_query(serving, "SHOW ALL TABLES")["name"].to_pylist()) == ["events", "tables"]
    assert run_query(serving, "DESCRIBE raw.events")["column_name"].to_pylist() == ["id"]
    assert run_query(serving, "EXPLAIN SELECT * FROM raw.events").num_rows == 1


def test_a_reader_runs_within_its_limits_and_cannot_change_them(serving: ServingCatalog):
    with connect_read_only(serving) as con:
        settings = "SELECT current_setting('memory_limit'), current_setting('threads')"
        assert con.sql(settings).fetchall() == [("244.1 MiB", 1)]
        # Even a caller that skips the statement check cannot lift the sandbox.
        for statement in ("SET memory_limit = '100GB'", "SET enable_external_access = true"):
            with pytest.raises(duckdb.InvalidInputException, match="the configuration has been locked"):
                con.execute(statement)


def test_a_query_needing_more_memory_than_the_limit_fails(serving: ServingCatalog):
    with pytest.raises(
        MemoryError, match=r"sandbox's limit \(LAKEHOUSE_SQL_MEMORY_LIMIT\): .*244\.1 MiB used\)$"
    ):
        run_query(serving, "SELECT list(repeat('x', 100) || i) FROM range(10000000) t(i)")


def test_a_runaway_query_is_stopped_at_the_statement_timeout(catalog_path: Path, serving: ServingCatalog):
    impatient = ServingCatalog(database=str(catalog_path), threads=1, statement_timeout_seconds=1)
    started = time.perf_counter()

    # Minutes of work: a cross join of a billion by a million rows.
    with pytest.raises(StatementTimeoutError, match="stopped after 1 s"):
        run_query(
            impatient, "SELECT count(*) FROM range(1000000000) a, range(1000000) b WHERE a.range < b.range"
        )

    assert 1 <= time.perf_counter() - started < 10
    assert run_query(impatient, "SELECT count(*) AS n FROM raw.events")["n"].to_pylist() == [2]


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("LAKEHOUSE_SQL_MEMORY_LIMIT", "512MB")
    monkeypatch.setenv("LAKEHOUSE_SQL_THREADS", "3")
    monkeypatch.setenv("LAKEHOUSE_SQL_TIMEOUT_SECONDS", "7.5")
    settings = get_settings(tmp_path)

    serving = ServingCatalog.from_settings(settings)

    assert (serving.memory_limit, serving.threads, serving.statement_timeout_seconds) == ("512MB", 3, 7.5)
    assert (serving.database, serving.readable_root) == (str(settings.catalog_path), str(settings.tables_dir))


def test_the_writer_that_builds_the_catalog_is_not_sandboxed(serving: ServingCatalog, tmp_path: Path):
    with serving.writable(tmp_path / "new.duckdb").get_connection() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert con.sql(f"SELECT * FROM read_csv('{tmp_path}/outside/secret.csv')").fetchall() == [
            ("hunter2",)
        ]
