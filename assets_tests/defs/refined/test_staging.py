"""Refine staging: windows spilled sorted by key come back reduced, a key range at a time, in key order."""

import polars as pl

from lakehouse.defs.refined.refine import newest_per_key
from lakehouse.defs.refined.staging import KeyRanges

# Three windows in arrival order: ids mostly rising, a late one (ev-02) and a re-sent one (ev-05).
WINDOWS = [
    pl.DataFrame({"event_id": ["ev-03", "ev-01", "ev-05", "ev-04"], "seq": [1, 1, 1, 1]}),
    pl.DataFrame({"event_id": ["ev-07", "ev-02", "ev-06", "ev-05"], "seq": [1, 1, 1, 2]}),
    pl.DataFrame({"event_id": ["ev-09", "ev-08", "ev-10", "ev-11"], "seq": [1, 1, 1, 1]}),
]


def newest(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.sort("seq").unique("event_id", keep="last")


def test_windows_come_back_reduced_by_key_range_in_key_order(tmp_path):
    staged = KeyRanges(tmp_path / "valid", ("event_id",), ranges=3)
    for window in WINDOWS:
        staged.add(window)

    out = staged.reduced(newest, tmp_path / "reduced")
    frames = list(out.frames())

    assert len(frames) == 3  # a file a range
    ids = pl.concat(frames).get_column("event_id").to_list()
    assert ids == [f"ev-{n:02d}" for n in range(1, 12)]  # each key once, in order across the ranges
    assert out.rows == 11
    assert len(staged.files) == 3 and len(out.files) == 3  # a file a window, then a file a range
    assert out.scan().filter(pl.col("event_id") == "ev-05").collect()["seq"].to_list() == [2]


def test_one_range_comes_back_whole_and_sorted(tmp_path):
    staged = KeyRanges(tmp_path / "valid", ("event_id",), ranges=1)
    staged.add(WINDOWS[1])

    (frame,) = staged.reduced(newest, tmp_path / "reduced").frames()

    assert frame.get_column("event_id").to_list() == ["ev-02", "ev-05", "ev-06", "ev-07"]


def test_of_versions_alike_the_last_window_to_arrive_wins_across_row_groups(tmp_path):
    """The tie rule of `newest_per_key` (equal sequence, ingestion and line number: the last to
    arrive) holds only if staging hands a range's rows back in arrival order: three windows of
    25,000 rows each (more than a spilled row group), every key in each, alike but for its batch."""
    ids = pl.DataFrame({"event_id": [f"ev-{n:05d}" for n in range(25_000)][::-1]})
    staged = KeyRanges(tmp_path / "valid", ("event_id",), ranges=4)
    for batch in ("b1", "b2", "b3"):
        alike = {"seq": 1, "_ingested_at": 1, "_row_number": 7, "_batch_id": batch}
        staged.add(ids.with_columns(pl.lit(value).alias(column) for column, value in alike.items()))

    out = staged.reduced(lambda rows: newest_per_key(rows, ("event_id",), "seq"), tmp_path / "reduced")
    kept = out.scan().collect()

    assert kept.height == 25_000 and len(out.files) == 4
    assert kept.get_column("_batch_id").unique().to_list() == ["b3"]
