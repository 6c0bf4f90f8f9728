"""Appending rows to a Delta table as Parquet files written on every core, committed once.

delta-rs encodes an append's Parquet on one thread: a large raw write (a 766 MB CSV, the 3.9M
clickstream lines) spent most of its step on one core while the other only parsed ahead. Here
Polars writes each file of about the table's target size (Snappy, statistics, one row group), up
to `WRITERS` files at a time, into the table's folder; then their add actions, with the
statistics delta-rs would record (read from the files' footers, as delta-rs does), are committed
as one transaction with the caller's commit properties (its app transactions: a batch is still
committed exactly once).

Crash safety is Delta's: nothing is committed until every file is written, and a file written
but never committed is in no version (readers never see it). When the rows' source or a write
fails, the files already written are removed (they may hold personal data that an erasure, which
reads the log, would never find); after a crash, a full vacuum (`full=True`) removes them, as it
does a delta-rs write's that died before its commit.

Only where it applies (`applies`): a local table, unpartitioned, whose rows keep its schema (same
columns, same types: a new column goes through delta-rs' schema merge), of plain column types,
at the plain protocol (no column mapping, constraints or generated columns to honour). Elsewhere
the caller writes through delta-rs.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Schema
from deltalake.transaction import AddAction, create_table_with_add_actions

from lakehouse.lib.storage import location

WRITERS = 2  # files written at a time (each by Polars, on its own threads)
ROW_GROUP_ROWS = 1 << 22  # above any file's rows: one row group per file, as delta-rs writes them
# The statistics' columns when the table names none: Delta's default (`dataSkippingNumIndexedCols`).
INDEXED_COLUMNS = 32
# The bytes a row takes in Parquet, per byte in memory, until a file has been written to measure it.
FIRST_GUESS_RATIO = 0.4
# Column types written here: those whose Parquet and Delta types agree without delta-rs' casts.
PLAIN_TYPES = (pl.String, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.Float32, pl.Float64, pl.Boolean, pl.Date)
UTC_MICROSECONDS = pl.Datetime("us", "UTC")
# The commit's own id in its metadata, by which the version it made is found (`_version_carrying`).
APPEND_ID = "lakehouse.append_id"
RECENT_COMMITS = 16  # the newest commits searched first for it (others' commits since ours: fewer)


def applies(uri: str, table: DeltaTable | None, schema: pl.Schema) -> bool:
    """Whether rows of `schema` can be appended here (a new table counts: it is made with them)."""
    if location.is_remote(uri) or not all(_plain(dtype) for dtype in schema.dtypes()):
        return False
    if table is None:
        return True
    protocol, metadata = table.protocol(), table.metadata()
    constrained = any(key.startswith("delta.constraints.") for key in metadata.configuration)
    if protocol.min_writer_version > 2 or constrained or metadata.partition_columns:
        return False
    stored = pl.from_arrow(pa.schema(table.schema().to_arrow()).empty_table()).schema
    return dict(stored) == dict(schema)


def _plain(dtype: pl.DataType) -> bool:
    return dtype in PLAIN_TYPES or dtype == UTC_MICROSECONDS


def append(
    uri: str,
    table: DeltaTable | None,
    frames: Iterator[pl.DataFrame],
    schema: pl.Schema,
    target_file_size: int,
    configuration: dict[str, str],
    properties: CommitProperties,
) -> int:
    """Write the frames as files of about `target_file_size`, then commit them in one transaction
    (creating the table with `configuration` when `table` is None). An error of `frames` or of a
    write commits nothing and is raised as it was. The version committed."""
    configuration = configuration if table is None else table.metadata().configuration
    stats_columns = _stats_columns(schema.names(), configuration)
    Path(uri).mkdir(parents=True, exist_ok=True)
    made: list[Path] = []  # every file begun, removed if the writing fails
    try:
        actions = _written(Path(uri), frames, schema, stats_columns, target_file_size, made)
    except BaseException:
        for path in made:
            path.unlink(missing_ok=True)
        raise
    properties = _with_metrics(properties, actions)
    if table is None:
        delta_schema = Schema.from_arrow(pl.DataFrame(schema=schema).to_arrow().schema)
        create_table_with_add_actions(
            uri, delta_schema, actions, configuration=configuration, commit_properties=properties
        )
    else:
        table.create_write_transaction(actions, "append", table.schema(), commit_properties=properties)
    return _version_carrying(uri, properties.custom_metadata[APPEND_ID])


def _version_carrying(uri: str, append_id: str) -> int:
    """The version of the commit carrying `append_id`. A commit of add actions returns none, and
    the table's newest version may already be another writer's commit, made just after ours."""
    table = DeltaTable(uri)
    for limit in (RECENT_COMMITS, None):
        for commit in table.history(limit):
            if commit.get(APPEND_ID) == append_id:
                return commit["version"]
    raise RuntimeError(f"{uri}: the append {append_id} committed, but no commit of the log carries it")


def _with_metrics(properties: CommitProperties, actions: list[AddAction]) -> CommitProperties:
    """The commit properties with the operation metrics delta-rs' own append records (`lakehouse
    history` shows the rows added from them) and this append's own id (`APPEND_ID`)."""
    rows = sum(json.loads(action.stats)["numRecords"] for action in actions)
    metrics = {"num_added_files": len(actions), "num_removed_files": 0, "num_added_rows": rows}
    custom = {**(properties.custom_metadata or {}), "operationMetrics": metrics, APPEND_ID: uuid.uuid4().hex}
    return CommitProperties(custom, properties.max_commit_retries, properties.app_transactions)


class _Sizes:
    """Parquet bytes per byte in memory, measured on the files written so far (the rows a file
    should take depend on how well its columns compress)."""

    def __init__(self) -> None:
        self.memory, self.disk = 0, 0

    @property
    def ratio(self) -> float:
        return self.disk / self.memory if self.memory else FIRST_GUESS_RATIO

    def add(self, memory: int, action: AddAction) -> AddAction:
        self.memory, self.disk = self.memory + memory, self.disk + action.size
        return action


def _written(
    folder: Path,
    frames: Iterator[pl.DataFrame],
    schema: pl.Schema,
    stats: list[str],
    target_file_size: int,
    made: list[Path],
) -> list[AddAction]:
    """The frames written as files of about `target_file_size` by `WRITERS` threads (at most one
    more file waiting in memory for each); the files' add actions, in order. On an error, the
    writes under way finish first."""
    sizes, pending, actions = _Sizes(), [], []
    with ThreadPoolExecutor(WRITERS, thread_name_prefix="parquet-append") as pool:
        for number, rows in enumerate(_file_rows(frames, target_file_size, sizes)):
            if len(pending) == WRITERS:
                actions.append(sizes.add(*_done(pending.pop(0))))
            rows = rows.select(schema.names())
            pending.append(
                (
                    rows.estimated_size(),
                    pool.submit(_write_file, folder / _file_name(number), rows, stats, made),
                )
            )
        actions += [sizes.add(*_done(write)) for write in pending]
    return actions


def _done(write: tuple[int, Future[AddAction]]) -> tuple[int, AddAction]:
    memory, future = write
    return memory, future.result()


def _file_rows(
    frames: Iterator[pl.DataFrame], target_file_size: int, sizes: _Sizes
) -> Iterator[pl.DataFrame]:
    """The frames' rows regrouped into files of about `target_file_size` in Parquet: the rows a
    file takes estimated from their size in memory, by the ratio of the files written so far."""
    held: list[pl.DataFrame] = []
    held_bytes = 0.0
    for frame in frames:
        row_bytes = frame.estimated_size() / max(frame.height, 1) * sizes.ratio
        while frame.height:
            take = max(1, int((target_file_size - held_bytes) / row_bytes))
            held.append(frame.head(take))
            held_bytes += held[-1].height * row_bytes
            frame = frame.slice(take)
            if held_bytes >= target_file_size:
                yield pl.concat(held)
                held, held_bytes = [], 0.0
    if held:
        yield pl.concat(held)


def _file_name(number: int) -> str:
    """A data file's name, as delta-rs names them."""
    return f"part-{number:05d}-{uuid.uuid4()}-c000.snappy.parquet"


def _write_file(path: Path, rows: pl.DataFrame, stats: list[str], made: list[Path]) -> AddAction:
    """One data file of the table and its add action (its path noted in `made` first)."""
    made.append(path)
    rows.write_parquet(path, compression="snappy", statistics=True, row_group_size=ROW_GROUP_ROWS)
    written = os.stat(path)
    return AddAction(
        path=path.name,
        size=written.st_size,
        partition_values={},
        modification_time=written.st_mtime_ns // 1_000_000,
        data_change=True,
        stats=file_stats(path, stats),
    )


def _stats_columns(columns: list[str], configuration: dict[str, str]) -> list[str]:
    """The columns whose statistics the log keeps: those the table names, else the first 32."""
    named = configuration.get("delta.dataSkippingStatsColumns")
    if named:
        return [c for c in named.split(",") if c in columns]
    indexed = int(configuration.get("delta.dataSkippingNumIndexedCols", INDEXED_COLUMNS))
    return columns if indexed < 0 else columns[:indexed]


def file_stats(path: Path, columns: list[str]) -> str:
    """A file's statistics as delta-rs records them (`numRecords`, `minValues`, `maxValues`,
    `nullCount`), from its footer: Parquet's own, long text already cut with its maximum rounded
    up; timestamps to the millisecond, rounded down. A value with no JSON form is left out (no
    statistic only costs a reader a file it could have skipped)."""
    metadata = pq.read_metadata(path)
    low: dict[str, object] = {}
    high: dict[str, object] = {}
    nulls: dict[str, int] = dict.fromkeys(columns, 0)
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            name, statistics = chunk.path_in_schema, chunk.statistics
            if name not in nulls or statistics is None:
                continue
            nulls[name] += statistics.null_count
            if statistics.has_min_max:
                _widen(low, name, statistics.min, min)
                _widen(high, name, statistics.max, max)
    stats = {
        "numRecords": metadata.num_rows,
        "minValues": _as_json(low),
        "maxValues": _as_json(high),
        "nullCount": nulls,
    }
    return json.dumps(stats, separators=(",", ":"), ensure_ascii=False)


def _widen(bounds: dict[str, object], name: str, value: object, pick: type[min] | type[max]) -> None:
    bounds[name] = value if name not in bounds else pick(bounds[name], value)  # type: ignore[call-overload]


def _as_json(bounds: dict[str, object]) -> dict[str, object]:
    """Bounds as delta-rs writes them; a float that is not finite left out."""
    out: dict[str, object] = {}
    for name, value in bounds.items():
        if isinstance(value, datetime):
            text = value.isoformat(sep="T" if value.tzinfo else " ", timespec="milliseconds")
            out[name] = text.replace("+00:00", "Z")
        elif isinstance(value, date):
            out[name] = value.isoformat()
        elif isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value)):
            out[name] = value
    return out
