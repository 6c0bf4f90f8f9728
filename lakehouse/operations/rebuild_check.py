"""Does an incrementally built lakehouse hold what a full rebuild of the same sources holds?

Each curated table of one lakehouse is compared with the same table of the other by its key: its
columns but the bookkeeping ones (`_…`: build times and watermarks differ by construction), its
row count, and every row's values (`diff.compare`). The incremental-build tests and the
benchmark's `--verify` both ask this; a difference is told as what a user would look for first:
which table, rows only in one of them, rows whose values differ and in which columns.
"""

from __future__ import annotations

import polars as pl

from lakehouse.defs.curated.dictionary import curated_specs
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage import delta_tables, location
from lakehouse.operations.diff import compare


def table_uri(tables_uri: str, spec: TableSpec) -> str:
    return location.join(tables_uri, *spec.asset_key.path)


def difference(built_tables: str, rebuilt_tables: str, spec: TableSpec) -> str | None:
    """None when the built lakehouse's table equals the rebuilt one's; else what differs."""
    built = delta_tables.scan(table_uri(built_tables, spec))
    rebuilt = delta_tables.scan(table_uri(rebuilt_tables, spec))
    built_schema, rebuilt_schema = _data_schema(built), _data_schema(rebuilt)
    if built_schema != rebuilt_schema:
        return f"{spec.table_name}: columns differ: built {built_schema}, rebuilt {rebuilt_schema}"
    rows = [frame.select(pl.len()).collect().item() for frame in (built, rebuilt)]
    diff = compare(rebuilt, built, spec.table_name, spec.key, 0, 0)
    if rows[0] == rows[1] and not (diff.added or diff.removed or diff.changed):
        return None
    lines = [
        f"{spec.table_name}: {rows[0]:,} rows built incrementally, {rows[1]:,} rebuilt; by key "
        f"{', '.join(spec.key)}: {diff.added:,} only in the incremental build, {diff.removed:,} only in "
        f"the rebuild, {diff.changed:,} with other values"
    ]
    lines += [f"  {column}: {count:,} rows differ" for column, count in diff.changed_columns.items()]
    if not diff.samples.is_empty():
        lines.append(f"  sample rows (rebuilt, then `_after`: built incrementally):\n{diff.samples}")
    return "\n".join(lines)


def differences(built_tables: str, rebuilt_tables: str) -> dict[str, str]:
    """Every curated table that differs between the two lakehouses, with what differs."""
    found = ((spec.table_name, difference(built_tables, rebuilt_tables, spec)) for spec in curated_specs())
    return {table: text for table, text in found if text is not None}


def _data_schema(rows: pl.LazyFrame) -> dict[str, pl.DataType]:
    return {name: dtype for name, dtype in rows.collect_schema().items() if not name.startswith("_")}
