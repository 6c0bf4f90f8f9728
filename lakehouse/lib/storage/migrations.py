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
between, and Delta's restore to the version before undoes it. It is streamed a file at a time (see
`stage`), so a table of any size migrates in bounded memory, each file read once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
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

    Memory stays bounded whatever the table's size: each old file is streamed into a new one (see
    `stage`), and one commit then swaps every new file in for every old one. A rewrite killed
    before its commit leaves the table as it was (its files are unreferenced, and vacuum removes
    them); a failing cast raises before the commit.
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
    """The migrated rows written into new files under the table, none of them part of the table
    yet (what a rewrite killed before its commit leaves); their add actions.

    One old file becomes one new file, streamed: each old file is read once, whatever the table's
    size or layout, and memory holds one file at a time. A new file keeps its old file's partition
    (folder and values); its statistics are computed from its rows (see `_statistics`)."""
    table = DeltaTable(uri)
    schema = pl.Schema(delta_tables.scan(uri).collect_schema())
    partitions = table.metadata().partition_columns
    touched = set(partitions) & {*migration.renames, *migration.casts, *migration.dropped}
    if touched:
        raise ValueError(
            f"{uri}: a migration cannot rename, cast or drop a partition column ({sorted(touched)})"
        )
    stats_columns = table.metadata().configuration.get(delta_tables.STATS_COLUMNS)
    indexed = None if stats_columns is None else set(stats_columns.split(","))
    files = pl.DataFrame(table.get_add_actions(flatten=True))
    return [
        _write_file(uri, _file_rows(uri, old, schema, partitions), migration, partitions, old, indexed)
        for old in files.iter_rows(named=True)
    ]


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


def _file_rows(uri: str, action: dict[str, Any], schema: pl.Schema, partitions: list[str]) -> pl.LazyFrame:
    """One data file's rows with the table's columns, as a Delta reader gives them: its partition
    values from the log, a column added to the table after the file was written as nulls."""
    rows = pl.scan_parquet(location.join(uri, *action["path"].split("/")))
    held = rows.collect_schema()

    def column(name: str, dtype: pl.DataType) -> pl.Expr:
        if name in partitions:
            return pl.lit(action[f"partition.{name}"], dtype=dtype).alias(name)
        return pl.col(name).cast(dtype) if name in held else pl.lit(None, dtype=dtype).alias(name)

    return rows.select(column(name, dtype) for name, dtype in schema.items())


def _write_file(
    uri: str,
    rows: pl.LazyFrame,
    migration: Migration,
    partitions: list[str],
    old: Mapping[str, Any],
    indexed: set[str] | None,
) -> AddAction:
    """The migrated rows of one old file streamed into a new file in the same partition folder
    (partition columns in the path, as Delta stores them, not in the file); its add action."""
    folder = old["path"].rsplit("/", 1)[0] if "/" in old["path"] else ""
    relative = "/".join(p for p in (folder, f"part-migrated-{uuid.uuid4().hex}.parquet") if p)
    target = location.join(uri, *relative.split("/"))
    filesystem = location.filesystem(uri)
    filesystem.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    migrated(rows, migration).drop(partitions).sink_parquet(target, engine="streaming")
    values = {c: old[f"partition.{c}"] for c in partitions}
    return AddAction(
        path=relative,
        size=filesystem.size(target),
        partition_values={c: None if v is None else _partition_text(v) for c, v in values.items()},
        modification_time=int(time.time() * 1000),
        data_change=True,
        stats=json.dumps(_statistics(pl.scan_parquet(target), indexed)),
    )


def _exact_range(dtype: pl.DataType) -> bool:
    """Whether the log holds a min and max of the type exactly as JSON: integers, dates, text.
    Timestamps (millisecond text in the log), decimals and floats (JSON numbers, NaN) could make a
    reader skip a file wrongly, so they get none (a reader then reads the file)."""
    return dtype.is_integer() or dtype in (pl.Date, pl.String)


def _statistics(rows: pl.LazyFrame, indexed: set[str] | None) -> dict[str, Any]:
    """A new file's statistics, as delta-rs writes them: its rows, each column's nulls, and the
    min and max of the columns whose type the log holds exactly (`indexed`: the table's
    statistics columns, None for all; direct PII is never among them)."""
    schema = rows.collect_schema()
    columns = [c for c in schema if indexed is None or c in indexed]
    ranged = [c for c in columns if _exact_range(schema[c])]
    found = (
        rows.select(
            pl.len().alias("__rows"),
            *(pl.col(c).null_count().alias(f"nulls {c}") for c in columns),
            *(pl.col(c).min().alias(f"min {c}") for c in ranged),
            *(pl.col(c).max().alias(f"max {c}") for c in ranged),
        )
        .collect()
        .row(0, named=True)
    )

    def text(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else value

    return {
        "numRecords": found["__rows"],
        "nullCount": {c: found[f"nulls {c}"] for c in columns},
        "minValues": {c: text(found[f"min {c}"]) for c in ranged if found[f"min {c}"] is not None},
        "maxValues": {c: text(found[f"max {c}"]) for c in ranged if found[f"max {c}"] is not None},
    }


def _partition_text(value: Any) -> str:
    """A partition value as Delta writes it in paths and add actions (dates as ISO text)."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
