"""Each write mode against real Delta tables."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import polars as pl
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from lakehouse.lib.storage import delta_tables, layout
from lakehouse.lib.storage.layout import TARGET_FILE_SIZE
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

APPEND = WriteSpec(WriteMode.APPEND)
MERGE = WriteSpec(WriteMode.MERGE, keys=("id",), sequence_column="updated_at")
REPLACE_BY_ID = WriteSpec(WriteMode.OVERWRITE_PARTITION, partition_column="id")
SCD2 = WriteSpec(
    WriteMode.SCD2,
    keys=("id",),
    sequence_column="updated_at",
    tracked_columns=("city",),
    surrogate_key="key",
)


def _batch(batch_id: str, ids: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"id": ids, "_batch_id": [batch_id] * len(ids)})


def test_append_same_batch_twice_keeps_one_copy(tmp_path):
    uri = str(tmp_path / "t")
    first = delta_tables.write(uri, _batch("b1", [1, 2, 3]), APPEND, {"run": "r1"})
    again = delta_tables.write(uri, _batch("b1", [1, 2, 3]), APPEND, {"run": "r2"})
    assert (first.rows_written, again.rows_written) == (3, 0)
    assert again.skipped_batches == ["b1"]
    assert delta_tables.scan(uri).select(pl.len()).collect().item() == 3
    assert DeltaTable(uri).version() == 0  # the retry committed nothing


def test_append_mixed_batches_writes_only_the_new_one(tmp_path):
    uri = str(tmp_path / "t")
    delta_tables.write(uri, _batch("b1", [1, 2]), APPEND, {})
    result = delta_tables.write(uri, pl.concat([_batch("b1", [1, 2]), _batch("b2", [3])]), APPEND, {})
    assert result.rows_written == 1
    ids = delta_tables.scan(uri).select("id").collect().get_column("id").sort().to_list()
    assert ids == [1, 2, 3]
    assert delta_tables.committed_batches(uri, ["b1", "b2", "b3"]) == {"b1", "b2"}


def test_merge_updates_newer_rows_and_inserts_new_keys(tmp_path):
    uri = str(tmp_path / "t")
    start = pl.DataFrame({"id": [1, 2, 3], "v": ["a", "b", "c"], "updated_at": [1, 1, 1]})
    delta_tables.write(uri, start, MERGE, {})
    change = pl.DataFrame({"id": [2, 3, 4], "v": ["B", "stale", "d"], "updated_at": [2, 0, 1]})
    result = delta_tables.write(uri, change, MERGE, {})
    assert (result.inserted, result.updated, result.deleted) == (1, 1, 0)
    rows = delta_tables.scan(uri).sort("id").collect()
    assert rows.get_column("v").to_list() == ["a", "B", "c", "d"]  # the older row 3 did not win


def test_merge_same_batch_twice_changes_nothing(tmp_path):
    uri = str(tmp_path / "t")
    data = pl.DataFrame({"id": [1, 2], "v": ["a", "b"], "updated_at": [1, 1]})
    delta_tables.write(uri, data, MERGE, {})
    result = delta_tables.write(uri, data, MERGE, {})
    assert (result.inserted, result.updated) == (0, 0)
    assert delta_tables.scan(uri).select(pl.len()).collect().item() == 2


def test_partition_overwrite_touches_only_its_slice(tmp_path):
    uri = str(tmp_path / "t")
    spec = WriteSpec(WriteMode.OVERWRITE_PARTITION, partition_column="day")
    days = [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)]
    delta_tables.write(uri, pl.DataFrame({"day": days, "n": [1, 2, 3]}), spec, {})
    result = delta_tables.write(uri, pl.DataFrame({"day": [days[1]] * 2, "n": [20, 21]}), spec, {})
    assert (result.inserted, result.deleted) == (2, 1)
    rows = delta_tables.scan(uri).sort("day", "n").collect()
    assert rows.rows() == [(days[0], 1), (days[1], 20), (days[1], 21), (days[2], 3)]


def test_overwrite_replaces_everything(tmp_path):
    uri = str(tmp_path / "t")
    spec = WriteSpec(WriteMode.OVERWRITE)
    delta_tables.write(uri, pl.DataFrame({"id": [1, 2]}), spec, {})
    result = delta_tables.write(uri, pl.DataFrame({"id": [9]}), spec, {})
    assert (result.inserted, result.deleted) == (1, 2)
    assert delta_tables.scan(uri).collect().get_column("id").to_list() == [9]


def test_every_commit_carries_its_provenance(tmp_path):
    uri = str(tmp_path / "t")
    provenance = {"dagster.run_id": "run-1", "dagster.input_versions": {"raw/orders": 4}}
    delta_tables.write(uri, _batch("b1", [1]), APPEND, provenance)
    commit = DeltaTable(uri).history(1)[0]
    assert commit["dagster.run_id"] == "run-1"
    assert json.loads(commit["dagster.input_versions"]) == {"raw/orders": 4}
    assert commit["lakehouse.write_mode"] == "append"


def test_partition_overwrite_of_named_slices_empties_a_slice_with_no_rows_left(tmp_path):
    uri = str(tmp_path / "t")
    spec = WriteSpec(WriteMode.OVERWRITE_PARTITION, partition_column="day")
    days = [date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)]
    delta_tables.write(uri, pl.DataFrame({"day": days, "n": [1, 2, 3]}), spec, {})
    # Day 2 is rebuilt and now has no rows; day 3 gets a new value. Slices come as ISO text (JSON).
    rebuilt = pl.DataFrame({"day": [days[2]], "n": [30]})
    result = delta_tables.write(uri, rebuilt, spec, {}, slices=["2025-01-02", "2025-01-03"])
    assert (result.inserted, result.deleted) == (1, 2)
    assert delta_tables.scan(uri).sort("day").collect().rows() == [(days[0], 1), (days[2], 30)]


def test_partition_overwrite_refuses_rows_outside_the_named_slices(tmp_path):
    uri = str(tmp_path / "t")
    spec = WriteSpec(WriteMode.OVERWRITE_PARTITION, partition_column="day")
    delta_tables.write(uri, pl.DataFrame({"day": [date(2025, 1, 1)], "n": [1]}), spec, {})
    stray = pl.DataFrame({"day": [date(2025, 1, 1), date(2025, 1, 9)], "n": [1, 9]})
    with pytest.raises(ValueError, match="1 rows fall outside the slices"):
        delta_tables.write(uri, stray, spec, {}, slices=["2025-01-01"])
    assert DeltaTable(uri).version() == 0


def test_merge_predicate_confines_the_target_to_the_source_key_range():
    data = pl.DataFrame({"order_id": [5, 3, 4], "line_no": [1, 2, 1]})
    assert delta_tables.merge_predicate(data, ("order_id", "line_no")) == (
        "t.order_id = s.order_id AND t.line_no = s.line_no AND t.order_id >= 3 AND t.order_id <= 5"
    )
    scattered = pl.DataFrame({"id": [100, 1, 2, 50]})
    assert delta_tables.merge_predicate(scattered, ("id",)) == (
        "t.id = s.id AND ((t.id >= 1 AND t.id <= 2) OR (t.id >= 50 AND t.id <= 50) "
        "OR (t.id >= 100 AND t.id <= 100))"
    )
    text = pl.DataFrame({"payment_id": ["pay_2", "pay_1"]})
    assert delta_tables.merge_predicate(text, ("payment_id",)).endswith(
        "t.payment_id >= 'pay_1' AND t.payment_id <= 'pay_2'"
    )


def test_key_ranges_split_integers_at_their_widest_gaps_and_keep_neighbours_together():
    keys = pl.Series([101, 1, 2, 3, 100, 50, None])
    assert delta_tables.key_ranges(keys, most=3) == [(1, 3), (50, 50), (100, 101)]
    assert delta_tables.key_ranges(keys, most=2) == [(1, 50), (100, 101)]
    assert delta_tables.key_ranges(keys, most=1) == [(1, 101)]
    assert delta_tables.key_ranges(pl.Series(["b", "a"])) == [("a", "b")]
    assert delta_tables.key_ranges(pl.Series([None], dtype=pl.Int64)) == []


def test_merge_with_a_key_range_leaves_files_outside_it_untouched(tmp_path):
    uri = str(tmp_path / "t")
    for ids in ([1, 2], [10, 11]):  # two commits: two files with disjoint key ranges
        delta_tables.write(
            uri, pl.DataFrame({"id": ids, "v": ["a"] * 2, "updated_at": [1, 1]}), REPLACE_BY_ID, {}
        )
    old_file = next(f for f in DeltaTable(uri).file_uris() if pl.read_parquet(f)["id"].to_list() == [1, 2])
    change = pl.DataFrame({"id": [11, 12], "v": ["b", "c"], "updated_at": [2, 2]})
    result = delta_tables.write(uri, change, MERGE, {})
    assert (result.inserted, result.updated) == (1, 1)
    assert old_file in DeltaTable(uri).file_uris()
    assert delta_tables.scan(uri).sort("id").collect().get_column("v").to_list() == ["a", "a", "a", "b", "c"]


def test_merge_takes_a_correction_with_the_same_sequence_when_ingested_later(tmp_path):
    uri = str(tmp_path / "t")
    first = pl.DataFrame({"id": [1], "v": ["wrong"], "updated_at": [5], "_ingested_at": [1]})
    delta_tables.write(uri, first, MERGE, {})
    correction = first.with_columns(pl.lit("right").alias("v"), pl.lit(2).alias("_ingested_at"))
    replay_of_old = first.with_columns(pl.lit("stale").alias("v"))
    assert delta_tables.write(uri, correction, MERGE, {}).updated == 1
    assert delta_tables.write(uri, replay_of_old, MERGE, {}).updated == 0
    assert delta_tables.scan(uri).collect().get_column("v").to_list() == ["right"]


@pytest.mark.parametrize(
    "spec",
    [
        WriteSpec(WriteMode.APPEND, direct_pii=("email",)),
        WriteSpec(WriteMode.MERGE, keys=("id",), direct_pii=("email",)),
        WriteSpec(WriteMode.OVERWRITE, direct_pii=("email",)),
    ],
    ids=lambda spec: spec.mode.value,
)
def test_direct_pii_never_reaches_the_logs_statistics(tmp_path, spec: WriteSpec):
    uri = str(tmp_path / "t")
    first = pl.DataFrame({"id": [1, 2], "email": ["ann@example.com", "bob@example.com"], "_batch_id": "b1"})
    second = pl.DataFrame({"id": [2, 3], "email": ["zoe@example.com", "cy@example.com"], "_batch_id": "b2"})
    delta_tables.write(uri, first, spec, {})
    delta_tables.write(uri, second, spec, {})

    log = "\n".join(path.read_text() for path in sorted((tmp_path / "t" / "_delta_log").glob("*.json")))
    stats = [json.loads(json.loads(line)["add"]["stats"]) for line in log.splitlines() if '"add"' in line]
    assert "@example.com" not in log
    assert {column for s in stats for column in s["minValues"]} == {"id", "_batch_id"}
    assert DeltaTable(uri).metadata().configuration[delta_tables.STATS_COLUMNS] == "id,_batch_id"


def test_a_table_written_before_its_pii_was_declared_stops_indexing_it(tmp_path):
    uri = str(tmp_path / "t")
    delta_tables.write(uri, _batch("b1", [1]).with_columns(email=pl.lit("ann@example.com")), APPEND, {})
    declared = WriteSpec(WriteMode.APPEND, direct_pii=("email",))
    delta_tables.write(uri, _batch("b2", [2]).with_columns(email=pl.lit("bob@example.com")), declared, {})

    newest = sorted((tmp_path / "t" / "_delta_log").glob("*.json"))[-1].read_text()
    assert "bob@example.com" not in newest
    assert DeltaTable(uri).metadata().configuration[delta_tables.STATS_COLUMNS] == "id,_batch_id"


# Day slices stored by month, as the order-line fact is: the month's one file holds every day.
BY_MONTH = WriteSpec(WriteMode.OVERWRITE_PARTITION, partition_column="day", partition_by=("month",))
JAN_1, JAN_2, JAN_3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)


def _days(days: list[date], n: int) -> pl.DataFrame:
    return pl.DataFrame({"day": days, "month": [d.replace(day=1) for d in days], "n": [n] * len(days)})


def test_two_writers_of_different_days_both_commit_though_they_share_a_file(tmp_path):
    """Two runs read version 0 and replace different days of one month: the second loses delta-rs'
    race (the first rewrote the month's file) and commits again, since the first replaced another day."""
    uri = str(tmp_path / "fact")
    delta_tables.write(uri, _days([JAN_1, JAN_2, JAN_3], 0), BY_MONTH, {})
    first = delta_tables.write(uri, _days([JAN_1], 1), BY_MONTH, {}, read_version=0)
    second = delta_tables.write(uri, _days([JAN_2], 2), BY_MONTH, {}, read_version=0)  # read before the first
    rows = delta_tables.scan(uri).sort("day").select("day", "n").collect().rows()
    assert rows == [(JAN_1, 1), (JAN_2, 2), (JAN_3, 0)]
    assert (first.version, second.version) == (1, 2)  # each the version it committed
    slices = [c.get(delta_tables.REPLACED_SLICES_COMMIT_KEY) for c in DeltaTable(uri).history()]
    assert slices[:2] == ['["2025-01-02"]', '["2025-01-01"]']  # newest first: the retried commit last


def _keyed(key: int) -> pl.DataFrame:
    return pl.DataFrame({"id": [key], "updated_at": [1]})


def test_a_merge_that_lost_the_commit_race_is_made_again_on_the_newest_version(tmp_path, monkeypatch):
    """Another writer commits while a merge is being made (delta-rs then refuses the merge's commit):
    the merge is made again on the newest table, and reports the version it committed."""
    uri = str(tmp_path / "t")
    delta_tables.write(uri, _keyed(1), MERGE, {})
    merge, raced = DeltaTable.merge, []

    def racing(table: DeltaTable, *args: object, **kwargs: object) -> object:
        if not raced:  # the first attempt: another writer commits first, this one loses
            raced.append(table.version())
            delta_tables.write(uri, _keyed(2), MERGE, {})
            raise CommitFailedError("a concurrent transaction won")
        return merge(table, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "merge", racing)
    monkeypatch.setattr(delta_tables.time, "sleep", lambda _seconds: None)
    result = delta_tables.write(uri, _keyed(3), MERGE, {})

    assert raced == [0]
    assert (result.version, result.inserted, DeltaTable(uri).version()) == (2, 1, 2)
    assert delta_tables.scan(uri).collect().get_column("id").sort().to_list() == [1, 2, 3]


def test_a_writer_of_a_day_another_replaced_since_its_read_is_refused(tmp_path):
    """Both computed 2 January from version 0: the later commit would undo the earlier's, so it is
    refused (the IO manager runs the step again, reading the new version)."""
    uri = str(tmp_path / "fact")
    delta_tables.write(uri, _days([JAN_1, JAN_2, JAN_3], 0), BY_MONTH, {})
    delta_tables.write(uri, _days([JAN_2, JAN_3], 1), BY_MONTH, {}, read_version=0)
    with pytest.raises(
        delta_tables.SliceConflictError, match=r"slice\(s\) 2025-01-02 were replaced .* version 0"
    ):
        delta_tables.write(uri, _days([JAN_1, JAN_2], 2), BY_MONTH, {}, read_version=0)
    rows = delta_tables.scan(uri).sort("day").select("day", "n").collect().rows()
    assert rows == [(JAN_1, 0), (JAN_2, 1), (JAN_3, 1)]


def test_a_commit_of_another_kind_since_the_read_counts_as_touching_every_slice(tmp_path):
    uri = str(tmp_path / "fact")
    delta_tables.write(uri, _days([JAN_1, JAN_2], 0), BY_MONTH, {})
    delta_tables.write(uri, _days([JAN_1, JAN_2], 1), WriteSpec(WriteMode.OVERWRITE), {})
    assert delta_tables.slices_replaced_since(uri, 0, ["2025-01-02"]) == ["2025-01-02"]
    DeltaTable(uri).optimize.compact()  # changes no row
    assert delta_tables.slices_replaced_since(uri, 1, ["2025-01-02"]) == []


def _batches(*frames: pl.DataFrame, fail_after: int | None = None) -> RowBatches:
    """Frames as `RowBatches`; with `fail_after`, the source breaks after that many."""

    def produce():
        for n, frame in enumerate(frames):
            if n == fail_after:
                raise OSError("the landing disk went away")
            yield frame

    ids = sorted({b for f in frames for b in f.get_column("_batch_id").to_list()})
    return RowBatches(schema=frames[0].schema, batches=produce(), source_batches=ids)


def test_append_batches_writes_every_batch_in_one_commit_and_skips_committed_ones_again(tmp_path):
    uri = str(tmp_path / "t")
    delta_tables.write(uri, _batch("b0", [0]), APPEND, {})

    first = delta_tables.append_batches(uri, _batches(_batch("b1", [1, 2]), _batch("b2", [3])), APPEND, {})
    again = delta_tables.append_batches(uri, _batches(_batch("b1", [1, 2]), _batch("b2", [3])), APPEND, {})

    assert (first.version, first.rows_written) == (1, 3)
    assert (again.version, again.rows_written, again.skipped_batches) == (1, 0, ["b1", "b2"])
    assert delta_tables.scan(uri).select("id").collect().get_column("id").sort().to_list() == [0, 1, 2, 3]
    assert delta_tables.committed_batches(uri, ["b1", "b2"]) == {"b1", "b2"}


def test_append_batches_that_break_half_way_commit_nothing_and_a_retry_writes_them_once(tmp_path):
    uri = str(tmp_path / "t")
    delta_tables.write(uri, _batch("b0", [0]), APPEND, {})
    frames = (_batch("b1", [1, 2]), _batch("b1", [3]), _batch("b2", [4]))

    with pytest.raises(OSError, match="the landing disk went away"):
        delta_tables.append_batches(uri, _batches(*frames, fail_after=2), APPEND, {})

    assert DeltaTable(uri).version() == 0
    assert delta_tables.committed_batches(uri, ["b1", "b2"]) == set()
    retried = delta_tables.append_batches(uri, _batches(*frames), APPEND, {})
    assert retried.rows_written == 4
    assert delta_tables.scan(uri).select("id").collect().get_column("id").sort().to_list() == [0, 1, 2, 3, 4]


def test_append_batches_conform_each_batch_to_the_schema(tmp_path):
    """A later file's new column is null in the earlier files' rows; every row has every column."""
    uri = str(tmp_path / "t")
    schema = pl.Schema({"id": pl.Int64, "_batch_id": pl.String, "warehouse": pl.String})
    later = _batch("b2", [2]).with_columns(warehouse=pl.lit("EU-1"))
    rows = RowBatches(schema=schema, batches=iter([_batch("b1", [1]), later]), source_batches=["b1", "b2"])

    delta_tables.append_batches(uri, rows, APPEND, {})

    assert delta_tables.scan(uri).sort("id").collect().rows() == [(1, "b1", None), (2, "b2", "EU-1")]


def test_merge_batches_make_a_table_in_one_commit_then_merge_as_a_frame_merge_does(tmp_path):
    uri = str(tmp_path / "t")
    start = [
        pl.DataFrame({"id": [1, 2], "v": ["a", "b"], "updated_at": [1, 1]}),
        pl.DataFrame({"id": [3], "v": ["c"], "updated_at": [1]}),
    ]
    change = pl.DataFrame({"id": [2, 3, 4], "v": ["B", "stale", "d"], "updated_at": [2, 0, 1]})

    def rows(*frames: pl.DataFrame) -> RowBatches:
        return RowBatches(schema=frames[0].schema, batches=iter(frames), source_batches=[])

    made = delta_tables.merge_batches(uri, rows(*start), MERGE, {})
    merged = delta_tables.merge_batches(uri, rows(change[:1], change[1:]), MERGE, {})

    assert (made.version, made.inserted) == (0, 3)
    assert (merged.version, merged.inserted, merged.updated) == (1, 1, 1)
    assert delta_tables.scan(uri).sort("id").collect().get_column("v").to_list() == ["a", "B", "c", "d"]


def test_replace_batches_make_a_table_then_replace_named_slices_in_one_commit_each(tmp_path):
    uri = str(tmp_path / "t")

    def rows(*frames: pl.DataFrame) -> RowBatches:
        return RowBatches(schema=frames[0].schema, batches=list(frames), source_batches=[])

    made = delta_tables.replace_batches(
        uri, rows(pl.DataFrame({"id": [1, 2]}), pl.DataFrame({"id": [3]})), REPLACE_BY_ID, {}
    )
    replaced = delta_tables.replace_batches(
        uri, rows(pl.DataFrame({"id": [2, 2]})), REPLACE_BY_ID, {}, slices=[2, 3]
    )

    assert (made.version, made.inserted) == (0, 3)
    assert (replaced.version, replaced.inserted, replaced.deleted) == (1, 2, 2)
    assert delta_tables.scan(uri).sort("id").collect().get_column("id").to_list() == [1, 2, 2]
    with pytest.raises(ValueError, match="1 rows fall outside the slices"):
        delta_tables.replace_batches(uri, rows(pl.DataFrame({"id": [4]})), REPLACE_BY_ID, {}, slices=[2])
    assert DeltaTable(uri).version() == 1


def test_a_bookkeeping_log_keeps_every_row_in_a_bounded_number_of_files(tmp_path):
    """A commit per append, its small files compacted every `LOG_CHECKPOINT_INTERVAL` commits."""
    uri = str(tmp_path / "log")
    for n in range(25):
        delta_tables.append_to_log(uri, pl.DataFrame({"n": [n]}))

    table = DeltaTable(uri)
    assert sorted(pl.read_delta(uri).get_column("n").to_list()) == list(range(25))
    # 25 appends and 2 compactions (at versions 10 and 20): one compacted file, the 5 appends since
    assert (table.version(), len(table.file_uris())) == (26, 6)


def test_a_log_kept_open_appends_after_what_other_writers_appended_meanwhile(tmp_path):
    """A run's open logs (`OpenLogs`) are brought up to date before each append: another run's
    rows stay, the compactions of every `LOG_CHECKPOINT_INTERVAL` commits still happen, and each
    log is opened once."""
    uri, logs, opened = str(tmp_path / "log"), delta_tables.OpenLogs(), []
    delta_tables.append_to_log(uri, pl.DataFrame({"n": [0]}), logs)  # made: not kept until it exists
    for n in range(1, 12):
        delta_tables.append_to_log(uri, pl.DataFrame({"n": [n]}), logs if n % 2 else None)  # runs alternate
        opened.append(logs.newest(uri))

    table = DeltaTable(uri)
    assert sorted(pl.read_delta(uri).get_column("n").to_list()) == list(range(12))
    assert [h["version"] for h in table.history()] == list(range(table.version(), -1, -1))  # no gap
    # appends at versions 1-10, the compaction of 0-10 (version 11), one append since
    assert (table.version(), len(table.file_uris())) == (12, 2)
    assert len({id(t) for t in opened}) == 1


def test_a_merged_table_made_before_tables_carried_their_file_size_gets_it_at_its_next_write(tmp_path):
    """Without it, its merges grew one file for ever; a write of any other mode gives its own size."""
    uri = str(tmp_path / "t")
    legacy = CommitProperties(custom_metadata=delta_tables.custom_metadata({}, MERGE))
    write_deltalake(
        uri, pl.DataFrame({"id": [1, 2], "updated_at": [1, 1]}).to_arrow(), commit_properties=legacy
    )
    assert delta_tables.TARGET_FILE_SIZE_PROPERTY not in DeltaTable(uri).metadata().configuration

    delta_tables.write(uri, pl.DataFrame({"id": [3], "updated_at": [2]}), MERGE, {})

    table = DeltaTable(uri)
    configuration = table.metadata().configuration
    assert configuration[delta_tables.TARGET_FILE_SIZE_PROPERTY] == str(TARGET_FILE_SIZE)
    set_size, merged = table.history(2)[::-1]
    assert (set_size["operation"], merged["operation"]) == ("SET TBLPROPERTIES", "MERGE")
    assert delta_tables.WRITE_SPEC_COMMIT_KEY in set_size  # as every commit: the catalog masks by it
    assert sorted(delta_tables.scan(uri).collect().get_column("id").to_list()) == [1, 2, 3]


@pytest.mark.parametrize("spec", [APPEND, MERGE, REPLACE_BY_ID], ids=lambda spec: spec.mode.value)
def test_a_new_table_keeps_its_target_file_size_for_later_merges(tmp_path, spec: WriteSpec):
    """A MERGE takes its file size from the table alone: without it, the file holding the newest
    keys absorbed every day merged into it (refined/events: 1.2M rows rewritten to merge 10k)."""
    uri = str(tmp_path / "t")
    delta_tables.write(uri, _batch("b1", [1, 2]).with_columns(updated_at=pl.lit(1)), spec, {})
    configuration = DeltaTable(uri).metadata().configuration
    assert configuration[delta_tables.TARGET_FILE_SIZE_PROPERTY] == str(TARGET_FILE_SIZE)


@pytest.mark.parametrize("spec", [MERGE, SCD2], ids=lambda spec: spec.mode.value)
def test_a_table_records_its_own_file_size_where_merges_and_compactions_read_it(tmp_path, spec: WriteSpec):
    """A table whose changes scatter over its keys declares smaller files: it is recorded in the
    table's configuration, which its merges (`spec_of`) and the weekly compaction
    (`layout.file_size_of`) read. (That they write files of that size is not asserted here.)"""
    uri = str(tmp_path / "t")
    rows = pl.DataFrame({"id": [1, 2], "city": ["a", "b"], "updated_at": [1, 1]})
    delta_tables.write(uri, rows, replace(spec, file_size=1000), {})
    table = DeltaTable(uri)
    assert table.metadata().configuration[delta_tables.TARGET_FILE_SIZE_PROPERTY] == "1000"
    assert layout.file_size_of(table) == 1000
    assert delta_tables.spec_of(uri).file_size == 1000


def test_a_vacuum_since_a_version_read_again_makes_its_replaced_slices_unknown(tmp_path):
    """A slice replace names its days; a vacuum changes no row, but may have removed the files of
    the version before it, so a reader that would time-travel there (the product mart) is told None."""
    uri = str(tmp_path / "fact")
    delta_tables.write(uri, _days([JAN_1, JAN_2], 0), BY_MONTH, {})
    delta_tables.write(uri, _days([JAN_2], 1), BY_MONTH, {}, read_version=0)
    assert delta_tables.slices_replaced_after(uri, 0, reading_version=True) == ["2025-01-02"]
    DeltaTable(uri).vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
    assert delta_tables.slices_replaced_after(uri, 0) == ["2025-01-02"]
    assert delta_tables.slices_replaced_after(uri, 0, reading_version=True) is None


def test_the_files_added_since_a_version_come_from_its_log_its_content_checked_only_when_given(tmp_path):
    """A caller that has just checked the version (the reconciliation's `_same_tables`) passes no
    content: the version's files are read from the log. A content it no longer holds: None."""
    uri = str(tmp_path / "t")
    delta_tables.write(uri, _batch("b1", [1, 2]), APPEND, {})
    held = delta_tables.content(uri, 0)
    delta_tables.write(uri, _batch("b2", [3]), APPEND, {})
    now = delta_tables.state(uri)
    (added,) = set(now.file_uris) - set(DeltaTable(uri, version=0).file_uris())

    assert delta_tables.files_added_since(uri, 0, now) == [added]
    assert delta_tables.files_added_since(uri, 0, now, held) == [added]
    assert delta_tables.files_added_since(uri, 0, now, "another version 0") is None
    assert delta_tables.files_added_since(uri, 2, now) is None  # not older
