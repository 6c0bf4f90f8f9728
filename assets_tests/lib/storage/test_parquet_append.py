"""Appends written as Parquet on both cores and committed once: the log as delta-rs' own writes
leave it (statistics, app transactions), files of about the target size, nothing committed on an
error, and delta-rs' writer wherever this path does not apply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from lakehouse.lib.storage import parquet_append

# Every plain type, with what delta-rs' statistics treat specially: text longer than their cut
# (the maximum rounded up), a NaN (ignored), nulls, a column of nulls only, sub-millisecond times.
ROWS = pl.DataFrame(
    {
        "text": ["a" * 100 + "z", "b", None, "é" * 100],
        "number": [1, 2, None, 4],
        "real": [1.5, float("nan"), None, -2.0],
        "flag": [True, None, False, True],
        "day": [date(2025, 1, 2), date(2025, 1, 1), None, date(2025, 3, 1)],
        "at": pl.Series(
            [datetime(2025, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)] * 3 + [None], dtype=pl.Datetime("us", "UTC")
        ),
        "nothing": pl.Series([None] * 4, dtype=pl.String),
        "_batch_id": ["b1", "b1", "b2", "b2"],
    }
)


def stats(uri: str) -> list[dict]:
    """The statistics of the files the table's log adds, as written there."""
    log = sorted((Path(uri) / "_delta_log").glob("*.json"))
    actions = [json.loads(line) for commit in log for line in commit.read_text().splitlines()]
    return [json.loads(action["add"]["stats"]) for action in actions if "add" in action]


def appended(uri: str, frames: list[pl.DataFrame], **properties) -> int:
    table = DeltaTable(uri) if DeltaTable.is_deltatable(uri) else None
    return parquet_append.append(
        uri, table, iter(frames), frames[0].schema, 8 << 20, {}, CommitProperties(**properties)
    )


def test_a_new_table_holds_the_rows_with_the_statistics_delta_rs_records(tmp_path):
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    write_deltalake(theirs, ROWS)

    appended(ours, [ROWS], app_transactions=[Transaction("b1", 1), Transaction("b2", 1)])

    assert pl.read_delta(ours).equals(ROWS)
    assert stats(ours) == stats(theirs)
    table = DeltaTable(ours)
    assert (table.version(), table.transaction_version("b1"), table.transaction_version("b2")) == (0, 1, 1)
    assert table.protocol().min_writer_version == 2


def test_an_append_commits_every_file_in_one_transaction_with_its_metadata(tmp_path):
    uri = str(tmp_path / "t")
    write_deltalake(uri, ROWS)

    batch = [Transaction("b3", 1)]
    appended(uri, [ROWS, ROWS.head(2)], custom_metadata={"by": "test"}, app_transactions=batch)

    table = DeltaTable(uri)
    commit = table.history(1)[0]
    assert (table.version(), table.transaction_version("b3")) == (1, 1)
    assert (commit["operation"], commit["operationParameters"]["mode"]) == ("WRITE", "Append")
    assert commit["by"] == "test"
    assert commit["operationMetrics"] == {"num_added_files": 1, "num_removed_files": 0, "num_added_rows": 6}
    assert pl.read_delta(uri).height == 10


def test_an_append_tells_its_own_version_not_the_newest(tmp_path):
    """The version is found by the commit's own id: another writer's commit made since is not
    taken for it (delta-rs returns no version for a commit of add actions)."""
    uri = str(tmp_path / "t")
    assert appended(uri, [ROWS]) == 0
    assert appended(uri, [ROWS]) == 1
    commit = DeltaTable(uri).history(1)[0]
    write_deltalake(uri, ROWS, mode="append")  # another writer, just after

    assert parquet_append._version_carrying(uri, commit[parquet_append.APPEND_ID]) == 1
    assert DeltaTable(uri).version() == 2


def test_rows_are_written_in_files_of_about_the_target_size(tmp_path):
    uri, target = str(tmp_path / "t"), 256 * 1024
    rows = pl.DataFrame({"key": [f"k{i:09d}" for i in range(300_000)], "n": range(300_000)})
    frames = [rows.slice(start, 7_000) for start in range(0, rows.height, 7_000)]

    parquet_append.append(uri, None, iter(frames), rows.schema, target, {}, CommitProperties())

    files = pl.DataFrame(DeltaTable(uri).get_add_actions(flatten=True))
    sizes = files.get_column("size_bytes").to_list()
    assert files.get_column("num_records").sum() == 300_000
    assert len(sizes) > 4
    assert all(target / 2 <= size <= target * 2 for size in sizes[:-1])
    assert pl.read_delta(uri).sort("n").equals(rows)


def test_only_the_statistics_columns_the_table_names_are_recorded(tmp_path):
    """A table with direct PII names its statistics columns: the others' values stay out of the log."""
    uri = str(tmp_path / "t")
    configuration = {"delta.dataSkippingStatsColumns": "number,_batch_id"}
    parquet_append.append(uri, None, iter([ROWS]), ROWS.schema, 8 << 20, configuration, CommitProperties())

    (recorded,) = stats(uri)
    assert recorded["minValues"] == {"number": 1, "_batch_id": "b1"}
    assert recorded["nullCount"] == {"number": 1, "_batch_id": 0}


def test_an_error_of_the_rows_commits_nothing_leaves_no_file_and_is_raised_as_it_was(tmp_path):
    uri = str(tmp_path / "t")
    write_deltalake(uri, ROWS)

    def failing() -> Iterator[pl.DataFrame]:
        yield ROWS
        raise ValueError("the source broke")

    table = DeltaTable(uri)
    with pytest.raises(ValueError, match="the source broke"):
        parquet_append.append(uri, table, failing(), ROWS.schema, 1, {}, CommitProperties())

    assert DeltaTable(uri).version() == 0
    assert pl.read_delta(uri).height == 4
    # a file a row (target 1 byte) was written before the error: each removed, none left to vacuum
    assert table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=True, full=True) == []


def test_the_path_applies_only_to_a_local_unpartitioned_table_keeping_its_plain_schema(tmp_path):
    uri, parted = str(tmp_path / "t"), str(tmp_path / "parted")
    write_deltalake(uri, ROWS)
    write_deltalake(parted, ROWS, partition_by=["_batch_id"])
    table = DeltaTable(uri)

    assert parquet_append.applies(uri, table, ROWS.schema)
    assert parquet_append.applies(str(tmp_path / "new"), None, ROWS.schema)
    assert not parquet_append.applies(uri, table, ROWS.with_columns(more=pl.lit(1)).schema)  # schema merge
    assert not parquet_append.applies(uri, table, ROWS.with_columns(pl.col("number").cast(pl.Int32)).schema)
    assert not parquet_append.applies(parted, DeltaTable(parted), ROWS.schema)
    assert not parquet_append.applies("s3://bucket/t", None, ROWS.schema)
    naive = ROWS.with_columns(pl.col("at").dt.replace_time_zone(None))  # a writer feature: delta-rs'
    assert not parquet_append.applies(uri, None, naive.schema)
