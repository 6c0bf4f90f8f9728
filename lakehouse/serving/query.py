"""Read-only SQL over the published catalog: the entry point of `lakehouse sql` and `tables`.

Every call opens the catalog read-only, through the `ServingCatalog` resource the Dagster steps
use (in its sandbox: queries only, no file outside the tables, memory, thread and time limits;
see `sandbox.py`), and closes it again, so it sees the latest published catalog and never holds
anything a publisher waits for. A connection from `connect_read_only` sees the catalog as it was when opened
(DuckDB also caches an open database by path within a process, so a second connect while the
first is open returns the old catalog): it is closed on leaving its `with` block.

Output formats: `table` (aligned box, at most `max_rows` rows), `csv` (RFC 4180: header, CRLF,
minimal quoting) and `json` (an array of objects). In csv and json, decimals are written as
strings (exact, never rounded through a float), dates and timestamps as ISO 8601, NaN and
infinities as null (empty in csv), binary as hex; lists and structs are JSON (in csv, a JSON
text in the cell). Intervals and nanosecond times, which have no exact Python or Polars value,
are shown as DuckDB writes them (`3 days 02:00:00`).
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

import duckdb
import polars as pl
import pyarrow as pa

from lakehouse.lib.privacy import redact_literals
from lakehouse.lib.storage import audit
from lakehouse.serving.catalog import CATALOG_SCHEMA, INDEX_TABLE
from lakehouse.serving.resource import ServingCatalog
from lakehouse.serving.sandbox import check_statements, refusals_explained, time_limit

OutputFormat = Literal["table", "csv", "json"]


class CatalogNotFoundError(FileNotFoundError):
    """No catalog has been published yet."""


class TableInfo(NamedTuple):
    schema: str
    table: str
    columns: int
    rows: int | None
    version: int


Catalog = Path | ServingCatalog
"""The resource, or the path of a catalog with the resource's default settings."""


@contextmanager
def connect_read_only(catalog: Catalog) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog, open read-only in its sandbox with timestamps shown in UTC, until the `with`
    block ends."""
    serving = ServingCatalog.of(catalog)
    if not Path(serving.database).is_file():
        raise CatalogNotFoundError(
            f"no catalog at {serving.database}: run `make run` to build the lakehouse and publish it"
        )
    with serving.get_connection() as con:
        yield con


def run_query(catalog: Catalog, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
    """Run `sql` (named parameters as `$name`) and return its result; empty for no statement.

    Only queries run, within the sandbox's time limit: anything else raises `SandboxError`, a
    statement running too long `StatementTimeoutError`. Repeated column names
    (`SELECT a.id, b.id ...`) get DuckDB's suffixes (`id`, `id_1`), so every column can be
    addressed and becomes its own key in json.
    """
    check_statements(sql)
    serving = ServingCatalog.of(catalog)
    if serving.clear_pii_purpose:
        audit_clear_pii(serving, sql)
    with (
        connect_read_only(serving) as con,
        refusals_explained(),
        time_limit(con, serving.statement_timeout_seconds),
    ):
        relation = con.sql(sql, params=params)
        if relation is None:
            return pa.table({})
        result = relation.to_arrow_table()
    return result.rename_columns(_unique_names(result.column_names))


def audit_clear_pii(serving: ServingCatalog, sql: str) -> None:
    """Record a statement run with direct PII in clear: who, why, and the statement (its string
    literals redacted: they may hold the very values looked up)."""
    audit.record(
        serving.readable_root,
        operation="pii_clear_access",
        table="catalog",
        version=None,
        details={
            "purpose": serving.clear_pii_purpose,
            "user": getpass.getuser(),
            "statement": redact_literals(sql),
        },
    )


def list_tables(catalog: Catalog) -> list[TableInfo]:
    """Every published view, with its column count, row count (when known) and Delta version."""
    with connect_read_only(catalog) as con:
        rows = con.sql(
            f"SELECT layer, table_name, column_count, row_count, version FROM {INDEX_TABLE} "
            "ORDER BY layer, table_name"
        ).fetchall()
    return [TableInfo(*row) for row in rows]


class ColumnDescription(NamedTuple):
    name: str
    type: str
    comment: str | None


class TableDescription(NamedTuple):
    schema: str
    table: str
    comment: str | None
    columns: list[ColumnDescription]


def describe_tables(catalog: Catalog) -> list[TableDescription]:
    """Every published view with its columns, and their descriptions (the views' comments)."""
    with connect_read_only(catalog) as con:
        views = con.sql(
            "SELECT schema_name, view_name, comment FROM duckdb_views() "
            f"WHERE NOT internal AND schema_name <> '{CATALOG_SCHEMA}' ORDER BY schema_name, view_name"
        ).fetchall()
        columns = con.sql(
            "SELECT schema_name, table_name, column_name, data_type, comment FROM duckdb_columns() "
            "ORDER BY schema_name, table_name, column_index"
        ).fetchall()
    by_view: dict[tuple[str, str], list[ColumnDescription]] = {}
    for schema, table, *column in columns:
        by_view.setdefault((schema, table), []).append(ColumnDescription(*column))
    return [TableDescription(s, t, comment, by_view.get((s, t), [])) for s, t, comment in views]


def format_result(table: pa.Table, fmt: OutputFormat = "table", max_rows: int = 50) -> str:
    """Render a result; only the `table` format is cut at `max_rows`."""
    table = _text_for_inexpressible(table)
    if fmt == "table":
        return _as_box(table, max_rows)
    if fmt == "csv":
        return _as_csv(table)
    if fmt == "json":
        return json.dumps([_plain(row) for row in table.to_pylist()], ensure_ascii=False)
    raise ValueError(f"unknown output format {fmt!r}: expected table, csv or json")


def _unique_names(names: list[str]) -> list[str]:
    unique: list[str] = []
    for name in names:
        candidate, suffix = name, 0
        while candidate in unique:
            suffix += 1
            candidate = f"{name}_{suffix}"
        unique.append(candidate)
    return unique


def _text_for_inexpressible(table: pa.Table) -> pa.Table:
    """Intervals, durations and nanosecond times as DuckDB's text: Python and Polars lack them."""
    for index, field in enumerate(table.schema):
        if _inexpressible(field.type):
            table = table.set_column(index, field.name, _duckdb_text(table.column(index)))
    return table


def _duckdb_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    with duckdb.connect() as con:
        relation = con.from_arrow(pa.table({"value": column}))
        return relation.project("CAST(value AS VARCHAR)").to_arrow_table().column(0)


def _inexpressible(type_: pa.DataType) -> bool:
    nanoseconds = pa.types.is_temporal(type_) and getattr(type_, "unit", None) == "ns"
    return pa.types.is_interval(type_) or pa.types.is_duration(type_) or nanoseconds


def _as_box(table: pa.Table, max_rows: int) -> str:
    shown = pl.from_arrow(table.slice(0, max_rows))
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_hide_dataframe_shape=True,
        fmt_str_lengths=80,
        fmt_table_cell_list_len=10,
        tbl_width_chars=10_000,
    ):
        box = str(shown)
    hidden = table.num_rows - max_rows
    if hidden > 0:
        return f"{box}\n{table.num_rows} rows, {hidden} not shown (showing the first {max_rows})"
    return f"{box}\n{table.num_rows} row{'' if table.num_rows == 1 else 's'}"


def _as_csv(table: pa.Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.column_names)
    columns = [column.to_pylist() for column in table.columns]
    for row in zip(*columns, strict=True):
        writer.writerow(_csv_cell(_plain(value)) for value in row)
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _plain(value: Any) -> Any:
    """A value JSON can hold exactly (see the module docstring)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
