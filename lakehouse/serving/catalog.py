"""Publish the DuckDB serving catalog: one schema per layer, one view per Delta table.

Delta tables live at `<tables root>/<layer>/<table>/`, in a folder or on an object store. Each
view reads the files of the table's current snapshot (see `views.py`), so the catalog must be
republished after every write; it is cheap (milliseconds per table) because only Delta logs and
Parquet footers are read.

Publishing builds a complete catalog in a temporary file next to the target and swaps it in with
`os.replace`, so a reader opens either the old or the new catalog, never a half-built one, and
a reader's open connection never blocks a publish. Publishers serialise on an exclusive `flock`
and read the Delta logs only once they hold it: the last publish reflects every commit made
before it started waiting. Readers never take the lock.

Views of documented tables (the curated ones, from their contracts) carry the table's and each
column's description as DuckDB comments (`duckdb_views()`, `duckdb_columns()`). Direct PII columns,
as the table's newest write spec names them, are masked (see `views.py`).

`_catalog.tables` lists what was published: layer, table, Delta version, path (`layer/table`, in
the tables folder: the catalog shows no absolute path it can avoid; only the views' files keep
theirs, which DuckDB needs), column count, row count (from the log's file statistics, NULL when a
file has none), files, bytes, published_at.

Connections come from the `ServingCatalog` resource: the publisher builds through its writable
twin on the temporary file; `views_over` builds the same views, of a few tables, in memory, for a
step whose SQL must read what upstream steps of its run just wrote (the catalog is published last).
"""

from __future__ import annotations

import fcntl
import glob
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from lakehouse.lib.storage.delta_tables import spec_of
from lakehouse.lib.storage.location import join, table_uris
from lakehouse.serving.resource import IN_MEMORY, ServingCatalog
from lakehouse.serving.views import quote_identifier, quote_literal, view_sql

if TYPE_CHECKING:
    from lakehouse.defs.curated.dictionary import TableDoc

CATALOG_SCHEMA = "_catalog"
INDEX_TABLE = f"{CATALOG_SCHEMA}.tables"

INDEX_SCHEMA = pa.schema(
    [
        ("layer", pa.string()),
        ("table_name", pa.string()),
        ("version", pa.int64()),
        ("path", pa.string()),
        ("column_count", pa.int64()),
        ("row_count", pa.int64()),
        ("file_count", pa.int64()),
        ("size_bytes", pa.int64()),
        ("published_at", pa.timestamp("us", tz="UTC")),
    ]
)


class UnservableTableError(RuntimeError):
    """A Delta table uses a feature that views over its Parquet files would silently get wrong."""


class HasReaderFeatures(Protocol):
    """What the guard reads of `DeltaTable.protocol()`."""

    reader_features: list[str] | None


@dataclass(frozen=True)
class CatalogSummary:
    catalog_path: Path
    tables: dict[str, int]
    """`layer.table` -> the Delta version published."""
    duration_seconds: float


@dataclass(frozen=True)
class _Table:
    layer: str
    name: str
    uri: str
    delta: DeltaTable

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"


def publish_catalog(tables_root: Path | str, catalog: Path | ServingCatalog) -> CatalogSummary:
    """Rebuild the catalog over the current version of every table and swap it in atomically.

    `catalog`: the resource, or the path of a catalog with the resource's default settings.
    """
    started = time.perf_counter()
    serving = ServingCatalog.of(catalog)
    catalog_path = Path(serving.database)
    catalog_path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(catalog_path.with_name(f"{catalog_path.name}.lock")):
        _remove_stale_temporaries(catalog_path)
        tables = _load_tables(tables_root)
        temporary = catalog_path.with_name(f"{catalog_path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with serving.writable(temporary).get_connection() as con:
                _build(con, tables, _table_docs())
            os.replace(temporary, catalog_path)
        finally:
            temporary.unlink(missing_ok=True)
    return CatalogSummary(
        catalog_path=catalog_path,
        tables={table.qualified_name: table.delta.version() for table in tables},
        duration_seconds=time.perf_counter() - started,
    )


@contextmanager
def views_over(
    serving: ServingCatalog, tables_root: Path | str, names: list[str]
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection holding the catalog's views of `names` (`layer.table`), over their
    current snapshots, and their `_catalog.tables` index (the versions read)."""
    tables = [_table(name.replace(".", "/"), join(tables_root, *name.split("."))) for name in names]
    with serving.writable(IN_MEMORY).get_connection() as con:
        _build(con, tables, {})
        yield con


def check_servable(name: str, protocol: HasReaderFeatures, configuration: Mapping[str, str]) -> None:
    """Refuse tables whose files alone do not give their rows or their column names.

    Deletion vectors mark deleted rows outside the Parquet files; column mapping stores columns
    under physical names. delta-rs writes neither, but a table written by another engine might.
    """
    reader_features = set(protocol.reader_features or [])
    mapping_mode = configuration.get("delta.columnMapping.mode", "none")
    if "columnMapping" in reader_features or mapping_mode != "none":
        raise UnservableTableError(
            f"{name} uses Delta column mapping (mode {mapping_mode!r}): "
            "the serving catalog reads Parquet files directly and cannot serve it"
        )
    deletion_vectors = configuration.get("delta.enableDeletionVectors", "false").lower()
    if "deletionVectors" in reader_features or deletion_vectors == "true":
        raise UnservableTableError(
            f"{name} uses Delta deletion vectors: the serving catalog reads Parquet files "
            "directly and would return deleted rows"
        )


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _remove_stale_temporaries(catalog_path: Path) -> None:
    """Temporaries exist only while their publisher holds the lock: any seen now are a crash's."""
    for stale in catalog_path.parent.glob(f"{glob.escape(catalog_path.name)}.*.tmp*"):
        stale.unlink(missing_ok=True)


def _load_tables(tables_root: Path | str) -> list[_Table]:
    tables = []
    for name, uri in table_uris(tables_root).items():
        try:
            tables.append(_table(name, uri))
        except TableNotFoundError:  # being created: no commit yet
            continue
    return tables


def _table(name: str, uri: str) -> _Table:
    """The table `<layer>/<table>` at `uri`, at its current version, if a view can serve it."""
    delta = DeltaTable(uri)
    layer, table_name = name.split("/")
    table = _Table(layer=layer, name=table_name, uri=uri, delta=delta)
    configuration = delta.metadata().configuration
    check_servable(f"{table.qualified_name} ({uri})", delta.protocol(), configuration)
    return table


def _table_docs() -> Mapping[str, TableDoc]:
    """The documented tables' descriptions (imported here: `lakehouse sql` need not load Dagster)."""
    from lakehouse.defs.curated.dictionary import curated_docs

    return curated_docs()


def _comment(con: duckdb.DuckDBPyConnection, table: _Table, doc: TableDoc) -> None:
    """Describe the view and each of its columns the documentation knows."""
    name = f"{quote_identifier(table.layer)}.{quote_identifier(table.name)}"
    con.execute(f"COMMENT ON VIEW {name} IS {quote_literal(doc.description)}")
    present = {field.name for field in table.delta.schema().fields}
    for column in doc.columns:
        if column.name in present:
            column_name = f"{name}.{quote_identifier(column.name)}"
            con.execute(f"COMMENT ON COLUMN {column_name} IS {quote_literal(column.description)}")


def _build(con: duckdb.DuckDBPyConnection, tables: list[_Table], docs: Mapping[str, TableDoc]) -> None:
    """A schema per layer, a view per table (commented when documented) and the index, at once."""
    con.execute("BEGIN")
    for schema in sorted({table.layer for table in tables} | {CATALOG_SCHEMA}):
        con.execute(f"CREATE SCHEMA {quote_identifier(schema)}")
    for table in tables:
        name = f"{quote_identifier(table.layer)}.{quote_identifier(table.name)}"
        masked = spec_of(table.delta).direct_pii
        con.execute(f"CREATE VIEW {name} AS {view_sql(con, table.delta, masked)}")
        if (doc := docs.get(table.qualified_name)) is not None:
            _comment(con, table, doc)
    con.register("published_tables", _index(tables))
    con.execute(f"CREATE TABLE {INDEX_TABLE} AS SELECT * FROM published_tables")
    con.execute("COMMIT")


def _index(tables: list[_Table]) -> pa.Table:
    published_at = datetime.now(UTC)
    rows = []
    for table in tables:
        files = pa.table(table.delta.get_add_actions(flatten=True))
        rows.append(
            {
                "layer": table.layer,
                "table_name": table.name,
                "version": table.delta.version(),
                "path": f"{table.layer}/{table.name}",
                "column_count": len(table.delta.schema().fields),
                "row_count": _row_count(files["num_records"]),
                "file_count": files.num_rows,
                "size_bytes": pc.sum(files["size_bytes"]).as_py() or 0,  # None when no files
                "published_at": published_at,
            }
        )
    return pa.Table.from_pylist(rows, schema=INDEX_SCHEMA)


def _row_count(num_records: pa.ChunkedArray) -> int | None:
    """Sum of the files' `numRecords` statistics; unknown when any file was written without."""
    if num_records.null_count:
        return None
    return pc.sum(num_records).as_py() or 0
