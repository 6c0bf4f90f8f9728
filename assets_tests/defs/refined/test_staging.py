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
    assert len(staged.spilled.files) == 3 and len(out.files) == 3  # a file a window, then a file a range
    assert out.scan().filter(pl.col("event_id") == "ev-05").collect()["seq"].to_list() == [2]


def test_a_window_without_valid_rows_counts_as_a_window_and_spills_no_file(tmp_path):
    staged = KeyRanges(tmp_path / "valid", ("event_id",), ranges=2)
    for window in (WINDOWS[0], WINDOWS[1].clear(), WINDOWS[2]):
        staged.add(window)

    out = staged.reduced(newest, tmp_path / "reduced")

    assert staged.windows == 3 and len(staged.spilled.files) == 2
    assert out.rows == 8


def test_no_valid_row_at_all_hands_on_no_rows_of_the_windows_schema(tmp_path):
    staged = KeyRanges(tmp_path / "valid", ("event_id",), ranges=2)
    staged.add(WINDOWS[0].clear())

    out = staged.reduced(newest, tmp_path / "reduced")

    assert (staged.windows, out.rows, out.files, out.schema) == (1, 0, [], WINDOWS[0].schema)


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


def test_a_key_led_by_a_low_cardinality_column_is_reduced_in_ranges_of_the_whole_key(tmp_path):
    """Keyed (country, id), three quarters of the rows in one country: four windows come back in
    four ranges of up to 1,000 rows, not a range per country (3,000 rows at once, most of the table).
    Every key once, its newest version (ids 0-99 of DE re-sent in the last window), in key order."""
    de = pl.DataFrame({"country": "DE", "id": range(3000), "seq": 1})
    fr = pl.DataFrame({"country": "FR", "id": range(900), "seq": 1})
    resent = de.head(100).with_columns(seq=pl.lit(2))
    windows = [de[:1000], de[1000:2000], de[2000:], pl.concat([fr, resent])]
    staged = KeyRanges(tmp_path / "valid", ("country", "id"), ranges=4)
    for window in windows:
        staged.add(window)

    out = staged.reduced(
        lambda rows: rows.sort("seq").unique(["country", "id"], keep="last"), tmp_path / "reduced"
    )

    # bounds at every 1,000th sampled row: DE 900, 1900, 2900 (DE 0-99 sampled twice, as re-sent)
    assert [frame.height for frame in out.frames()] == [900, 1000, 1000, 1000]
    kept = out.scan().collect()
    assert kept.select("country", "id").rows() == sorted(
        [("DE", n) for n in range(3000)] + [("FR", n) for n in range(900)]
    )
    assert kept.group_by("seq").len().sort("seq").rows() == [(1, 3800), (2, 100)]
