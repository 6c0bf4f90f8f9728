"""Tables laid out for queries: the slices a write touched are compacted once small files pile up.

A daily schedule adds a file a day to every table it appends to (a settlement file, a day of
events) and a file a day to the month folder of every fact it replaces a day of: after a year a
fact is 365 files of a few hundred kB, and a query spends most of its time opening them (the
serving benchmark at scale 0.1 over that layout: 5.8x the CPU of DuckDB's native tables; 1.3x
once each month is one file). The weekly maintenance compacts every table; between two, a write
that leaves `SMALL_FILES` small files in the partitions it touched compacts them (delta-rs
rewrites only the files under the target size, so large files are never read again). The
compaction's commit carries the write's own commit metadata: the table's newest commit still
names the run, its inputs and its write spec, and the version the write reports holds its rows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError

# Files of bounded size: a slice replace or a merge rewrites only the files holding its rows.
TARGET_FILE_SIZE = 8 * 1024 * 1024
# The table property holding a table's own file size (`WriteSpec.file_size`): a MERGE and a
# compaction take it from there.
TARGET_FILE_SIZE_PROPERTY = "delta.targetFileSize"
# A file under this size is small: any two fit in one file of the target size.
SMALL_FILE_SIZE = TARGET_FILE_SIZE // 4
# How many small files the partitions a write touched may hold before the write compacts them.
SMALL_FILES = 8


def compact_touched(
    uri: str, partitions: Mapping[str, Collection[Any]], commit_metadata: dict[str, str]
) -> bool:
    """Compact the partitions named by `partitions` (partition column -> values; empty: the whole
    table) when they hold `SMALL_FILES` small files or more; whether a compaction was committed.

    A writer that changed those files meanwhile wins: its commit stands, the next write compacts."""
    table = DeltaTable(uri)
    files = pl.DataFrame(table.get_add_actions(flatten=True))
    small = files.filter(
        pl.col("size_bytes") < SMALL_FILE_SIZE,
        *(pl.col(f"partition.{c}").cast(pl.String).is_in(_texts(v)) for c, v in partitions.items()),
    )
    if small.height < SMALL_FILES:
        return False
    filters = [(column, "in", _texts(values)) for column, values in partitions.items()]
    try:
        table.optimize.compact(
            partition_filters=filters or None,
            target_size=file_size_of(table),
            commit_properties=CommitProperties(custom_metadata=commit_metadata),
        )
    except CommitFailedError:
        return False
    return True


def file_size_of(table: DeltaTable) -> int:
    """The table's own file size (`TARGET_FILE_SIZE` when it names none): compacted to more, the
    small files of a table whose changes scatter over its keys would be undone."""
    return int(table.metadata().configuration.get(TARGET_FILE_SIZE_PROPERTY, TARGET_FILE_SIZE))


def touched_partitions(data: pl.DataFrame, partition_by: tuple[str, ...]) -> dict[str, list[Any]]:
    """The values of each partition column in the rows a write wrote."""
    return {column: data.get_column(column).unique().to_list() for column in partition_by}


def _texts(values: Collection[Any]) -> list[str]:
    """Partition values as the log writes them (text; dates in ISO form)."""
    return sorted(str(value) for value in values)
