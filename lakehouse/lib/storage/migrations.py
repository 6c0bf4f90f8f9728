"""Migrating a stored Delta table to the columns its code declares, in one atomic commit.

A contract change reaches a table that already holds rows. Additive changes (a new column) could
be merged in by any write, but a write never removes a column nor renames one: a misspelled
column, once fixed, would stay in the table all-null beside the right one. So a migration
rewrites the table once, to exactly the declared columns in the declared order (then the
bookkeeping columns the table holds, `_…`, that the contract does not declare):

- a column renamed by a declared `{"rename": {old: new}}` keeps its values under its new name;
- a column retyped by a declared `{"cast": {column: type}}` is cast, and every row must cast: a
  value that does not fit stops the migration before anything is written (`CastError`, naming the
  rows by the table's key);
- a new column is added, null until the table is rebuilt;
- a column the code no longer declares is dropped.

The rewrite is a single Delta overwrite commit: readers see the table before or after it, never
between, and Delta's restore to the version before undoes it. It is streamed a partition at a time
(see `rewrite`), so a table of any size migrates in bounded memory.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction

from lakehouse.lib.storage import delta_tables, location

# The asset definition metadata entry listing a table's declared migrations.
MIGRATIONS_KEY = "lakehouse/migrations"
RENAME, CAST = "rename", "cast"
SAMPLE_ROWS = 10


@dataclass(frozen=True)
class Declared:
    """A table's declared migrations: renames (old -> new) and casts (column -> type text)."""

    renames: dict[str, str] = field(default_factory=dict)
    casts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, entries: Sequence[Mapping[str, Mapping[str, str]]]) -> Declared:
        """From `[{"rename": {old: new}}, {"cast": {column: type}}]`; anything else is an error."""
        renames, casts = {}, {}
        for entry in entries:
            unknown = set(entry) - {RENAME, CAST}
            if unknown:
                raise ValueError(f"unknown migration {sorted(unknown)}: use 'rename' or 'cast'")
            renames |= dict(entry.get(RENAME, {}))
            casts |= dict(entry.get(CAST, {}))
        return cls(renames, casts)


@dataclass(frozen=True)
class Migration:
    """What rewriting one table does: `columns` are the declared ones, in order, with their types."""

    columns: dict[str, str]
    renames: dict[str, str] = field(default_factory=dict)
    casts: tuple[str, ...] = ()  # declared columns whose values are cast
    added: tuple[str, ...] = ()  # declared columns the table lacks: null until rebuilt
    dropped: tuple[str, ...] = ()  # stored columns the code no longer declares

    @property
    def changes_anything(self) -> bool:
        return bool(self.renames or self.casts or self.added or self.dropped)

    def describe(self) -> list[str]:
        """The migration's steps, one line each, as the plan prints them."""
        return [
            *(f"rename {old} -> {new}" for old, new in self.renames.items()),
            *(f"cast {c} to {self.columns[c]}" for c in self.casts),
            *(f"add {c} {self.columns[c]} (null until rebuilt)" for c in self.added),
            *(f"drop {c}" for c in self.dropped),
        ]


class CastError(ValueError):
    """A declared cast that does not hold for every row; nothing was written."""


def dtype(text: str) -> pl.DataType:
    """A Polars type from its text as contracts and schemas print it, e.g.
    `Datetime(time_unit='us', time_zone='UTC')` or `Decimal(precision=18, scale=2)`."""
    namespace = {name: value for name, value in vars(pl).items() if isinstance(value, type)}
    try:
        parsed = eval(text, {"__builtins__": {}}, namespace)
    except Exception as error:
        raise ValueError(f"not a Polars type: {text!r}") from error
    return parsed() if isinstance(parsed, type) else parsed


def migrated(table: pl.LazyFrame, migration: Migration) -> pl.LazyFrame:
    """The table's rows with the declared columns in order (renamed, cast, added), then the
    undeclared bookkeeping columns it holds; dropped columns left out."""
    renamed = table.rename(migration.renames)
    stored = renamed.collect_schema().names()

    def column(name: str) -> pl.Expr:
        if name in migration.added:
            return pl.lit(None, dtype=dtype(migration.columns[name])).alias(name)
        if name in migration.casts:
            return pl.col(name).cast(dtype(migration.columns[name]), strict=True)
        return pl.col(name)

    kept = [c for c in stored if c not in migration.columns and c not in migration.dropped]
    return renamed.select(*(column(c) for c in migration.columns), *kept)


def failed_casts(table: pl.LazyFrame, migration: Migration, key: Sequence[str]) -> pl.DataFrame:
    """The rows (key, column, value) whose value does not cast to its declared type: the first few
    by key, the same on every run whatever order the table's files are read in."""
    renamed = table.rename(migration.renames)
    failures = [
        renamed.filter(
            pl.col(c).is_not_null() & pl.col(c).cast(dtype(migration.columns[c]), strict=False).is_null()
        ).select(
            *(pl.col(k) for k in key), pl.lit(c).alias("column"), pl.col(c).cast(pl.String).alias("value")
        )
        for c in migration.casts
    ]
    if not failures:
        return pl.DataFrame()
    return pl.concat(failures).sort([*key, "column"]).head(SAMPLE_ROWS).collect()


def check_casts(uri: str, table_name: str, migration: Migration, key: Sequence[str]) -> None:
    """Raise `CastError` naming the rows when a declared cast fails for any of them."""
    failed = failed_casts(delta_tables.scan(uri), migration, key)
    if not failed.is_empty():
        raise CastError(
            f"{table_name}: a declared cast fails for some rows; nothing was written. "
            f"First of them:\n{failed}"
        )


def rewrite(uri: str, migration: Migration, commit_metadata: Mapping[str, Any], emptied: bool = False) -> int:
    """Rewrite the table as `migration` says, in one overwrite commit carrying `commit_metadata`
    (and the table's write spec, as every commit does); its new version. `emptied`: keep no row,
    so that the table's next build rebuilds it whole (an append table's batches marked undone).

    Memory stays bounded whatever the table's size: each partition (the whole table, unpartitioned)
    is streamed from the old files into a new Parquet file, and one commit then swaps every new
    file in for every old one. A rewrite killed before its commit leaves the table as it was (its
    files are unreferenced, and vacuum removes them); a failing cast raises before the commit.
    """
    table = DeltaTable(uri)
    spec = delta_tables.spec_of(uri)
    rows = migrated(delta_tables.scan(uri), migration)
    actions = [] if emptied else stage(uri, migration)
    undone = delta_tables.undo_every_batch(uri, spec) if emptied else []
    table.create_write_transaction(
        actions,
        mode="overwrite",
        schema=rows.head(0).collect().to_arrow().schema,
        partition_by=table.metadata().partition_columns or None,
        commit_properties=CommitProperties(
            custom_metadata=delta_tables.custom_metadata(commit_metadata, spec),
            app_transactions=undone or None,
        ),
    )
    return DeltaTable(uri).version()


def stage(uri: str, migration: Migration) -> list[AddAction]:
    """The migrated rows written into new files under the table, a slice at a time, none of them
    part of the table yet (what a rewrite killed before its commit leaves); their add actions.

    A slice is a partition of the table's files, else a slice of its write spec (a fact's day),
    else the whole table: each is streamed from the old files into one new file."""
    partitions = delta_tables.partition_columns(uri)
    slice_column = delta_tables.spec_of(uri).partition_column
    rows = migrated(delta_tables.scan(uri), migration)
    held = rows.collect_schema().names()
    sliced_by = partitions or ([slice_column] if slice_column in held else [])  # renamed: unsliced
    return [_write_file(uri, rows, partitions, values) for values in _slices(rows, sliced_by)]


def record_code_version(uri: str, commit_metadata: Mapping[str, Any]) -> int:
    """A commit adding no row, carrying `commit_metadata` (the code version now governing the
    table, when its rebuild had nothing to write); its version."""
    table = DeltaTable(uri)
    custom = delta_tables.custom_metadata(commit_metadata, delta_tables.spec_of(uri))
    schema = table.schema().to_arrow()
    table.create_write_transaction(
        [],
        mode="append",
        schema=schema,
        partition_by=table.metadata().partition_columns or None,
        commit_properties=CommitProperties(custom_metadata=custom),
    )
    return DeltaTable(uri).version()


def _slices(rows: pl.LazyFrame, columns: list[str]) -> list[dict[str, Any]]:
    """The values of `columns` present (one empty slice without columns)."""
    if not columns:
        return [{}]
    return rows.select(columns).unique().sort(columns, nulls_last=True).collect().rows(named=True)


def _write_file(uri: str, rows: pl.LazyFrame, partitions: list[str], values: Mapping[str, Any]) -> AddAction:
    """One slice's rows (`values`: its columns' values) streamed into a new Parquet file under the
    table (partition columns in the path, as Delta stores them, not in the file), and the add
    action naming it: its rows and null counts as statistics (no min/max: files without them are
    read by every query, never skipped wrongly)."""
    folder = [f"{c}={_partition_text(values[c])}" for c in partitions]
    relative = "/".join([*folder, f"part-migrated-{uuid.uuid4().hex}.parquet"])
    selected = rows
    for column in values:
        value = values[column]
        selected = selected.filter(pl.col(column).is_null() if value is None else pl.col(column) == value)
    selected = selected.drop(partitions)
    target = location.join(uri, *relative.split("/"))
    filesystem = location.filesystem(uri)
    filesystem.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    selected.sink_parquet(target, engine="streaming")
    stats = pl.scan_parquet(target).select(pl.len().alias("rows"), pl.all().null_count()).collect()
    counts = stats.row(0, named=True)
    rows_written = counts.pop("rows")
    return AddAction(
        path=relative,
        size=filesystem.size(target),
        partition_values={c: None if values[c] is None else _partition_text(values[c]) for c in partitions},
        modification_time=int(time.time() * 1000),
        data_change=True,
        stats=json.dumps({"numRecords": rows_written, "nullCount": counts}),
    )


def _partition_text(value: Any) -> str:
    """A partition value as Delta writes it in paths and add actions (dates as ISO text)."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
