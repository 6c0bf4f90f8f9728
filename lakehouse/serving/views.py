"""The SQL of one catalog view over a Delta table's current snapshot.

A view reads the snapshot's data files with `read_parquet`: the DuckDB Delta extension cannot be
installed here and `DeltaTable.to_pyarrow_dataset()` is slower and breaks on Polars' `string_view`
columns. The view always exposes the Delta schema, in its order and with its types:

- files written before a column was added miss it: `union_by_name` fills it with NULL;
- partition columns live in the paths, not the files: hive partitioning, typed from the schema;
- a column no file has yet, or a table with no files at all, becomes a typed NULL.

Direct PII columns (named by the table's write spec) are masked: `***` for a value, NULL for a
null, unless the reading connection holds the variable `CLEAR_PII` (set only by the privileged,
audited path of `ServingCatalog`; the sandbox refuses `SET` from users).
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

# The DuckDB variable that unmasks direct PII in the catalog's views (privileged readers only).
CLEAR_PII = "lakehouse_clear_pii"
MASK = "***"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_types(con: duckdb.DuckDBPyConnection, schema: pa.Schema) -> dict[str, str]:
    """DuckDB's SQL type of each column, as DuckDB itself converts the Arrow type."""
    relation = con.from_arrow(schema.empty_table())
    return {name: str(type_) for name, type_ in zip(relation.columns, relation.types, strict=True)}


def view_sql(con: duckdb.DuckDBPyConnection, table: DeltaTable, masked: Collection[str] = ()) -> str:
    """`SELECT` of the table's current snapshot, with exactly the Delta schema's columns, the
    `masked` ones (direct PII) masked."""
    types = duckdb_types(con, pa.schema(table.schema().to_arrow()))
    files = table.file_uris()
    if not files:
        return f"SELECT {_projection(types, present=set())} WHERE false"
    partition_columns = table.metadata().partition_columns
    same_columns = _same_columns(con, files)
    source = _read_parquet(files, partition_columns, types, union_by_name=not same_columns)
    present = set(con.sql(f"SELECT * FROM {source}").columns)
    return f"SELECT {_projection(types, present, set(masked))} FROM {source}"


def _same_columns(con: duckdb.DuckDBPyConnection, files: list[str]) -> bool:
    """Whether every file has the same columns, in the same order, of the same types.

    Only then may a view read the files without `union_by_name`, which makes DuckDB open every
    file's footer each time a query binds the view (a year of daily files: most of a small
    query's time); with it off, DuckDB takes the first file's schema and opens only the files
    the query's filters leave. One file has its own columns: no need to read its schema."""
    if len(files) == 1:
        return True
    signatures = con.execute(
        "SELECT count(DISTINCT columns) FROM (SELECT list((name, duckdb_type) ORDER BY column_id) "
        "AS columns FROM parquet_schema($files) WHERE column_id > 0 GROUP BY file_name)",
        {"files": files},
    ).fetchall()
    return signatures[0][0] == 1


def _read_parquet(
    files: list[str], partition_columns: list[str], types: dict[str, str], union_by_name: bool
) -> str:
    file_list = ", ".join(quote_literal(file) for file in files)
    union = str(union_by_name).lower()
    # Hive partitioning is explicit both ways: DuckDB would otherwise guess it from any
    # `key=value` folder in the path.
    if not partition_columns:
        return f"read_parquet([{file_list}], union_by_name={union}, hive_partitioning=false)"
    hive_types = ", ".join(
        f"{quote_literal(name)}: {quote_literal(types[name])}" for name in partition_columns
    )
    return (
        f"read_parquet([{file_list}], union_by_name={union}, hive_partitioning=true, "
        f"hive_types={{{hive_types}}})"
    )


def _projection(types: dict[str, str], present: set[str], masked: set[str] = frozenset()) -> str:
    return ", ".join(
        (_masked(name, type_) if name in masked else quote_identifier(name))
        if name in present
        else f"CAST(NULL AS {type_}) AS {quote_identifier(name)}"
        for name, type_ in types.items()
    )


def _masked(name: str, type_: str) -> str:
    """The column in clear for a privileged reader, else `***` (text) or NULL (other types)."""
    column = quote_identifier(name)
    mask = quote_literal(MASK) if type_ == "VARCHAR" else "NULL"
    clear = f"getvariable({quote_literal(CLEAR_PII)}) IS TRUE"
    return f"CASE WHEN {clear} THEN {column} WHEN {column} IS NOT NULL THEN {mask} END AS {column}"
