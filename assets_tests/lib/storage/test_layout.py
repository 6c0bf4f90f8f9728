"""A write that leaves small files piling up in the partitions it touched compacts them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.layout import SMALL_FILES
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

DAILY = WriteSpec(WriteMode.OVERWRITE_PARTITION, partition_column="day", partition_by=("month",))
APPEND = WriteSpec(WriteMode.APPEND)


def _day(day: date) -> pl.DataFrame:
    return pl.DataFrame({"day": [day, day], "month": [day.strftime("%Y-%m")] * 2, "amount": [day.day, 1]})


def test_a_month_of_daily_replaces_is_compacted_and_other_months_are_left_alone(tmp_path: Path):
    uri = str(tmp_path / "fact")
    delta_tables.write(uri, _day(date(2025, 1, 31)), DAILY, {"dagster.run_id": "january"})
    results = [
        delta_tables.write(uri, _day(date(2025, 2, d)), DAILY, {"dagster.run_id": f"run {d}"})
        for d in range(1, SMALL_FILES + 1)
    ]

    files = pl.DataFrame(DeltaTable(uri).get_add_actions(flatten=True))
    per_month = dict(files.group_by("partition.month").len().iter_rows())
    assert per_month == {"2025-01": 1, "2025-02": 1}
    assert [r.version for r in results[:-1]] == list(range(1, SMALL_FILES))  # no compaction before
    newest = DeltaTable(uri).history(1)[0]
    assert newest["operation"] == "OPTIMIZE" and newest["dagster.run_id"] == f"run {SMALL_FILES}"
    assert results[-1].version == newest["version"] and results[-1].rows_written == 2
    assert delta_tables.spec_of(uri) == DAILY
    rows = delta_tables.scan(uri).sort("day", "amount").collect()
    assert rows.height == 2 * (SMALL_FILES + 1) and rows.get_column("amount").sum() == 31 + 36 + 9


def test_appended_batches_are_compacted_once_small_files_pile_up(tmp_path: Path):
    uri = str(tmp_path / "raw")
    for batch in range(SMALL_FILES):
        delta_tables.write(uri, pl.DataFrame({"_batch_id": [f"b{batch}"], "x": [batch]}), APPEND, {})

    assert len(DeltaTable(uri).file_uris()) == 1
    assert delta_tables.scan(uri).select(pl.col("x").sum()).collect().item() == sum(range(SMALL_FILES))
    assert delta_tables.committed_batches(uri, [f"b{b}" for b in range(SMALL_FILES)]) == {
        f"b{b}" for b in range(SMALL_FILES)
    }
