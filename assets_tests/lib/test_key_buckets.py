"""Key buckets: every row in one bucket, a key's rows together, counts summed equal to the whole's."""

import polars as pl

from lakehouse.lib.key_buckets import (
    distinct_keys,
    in_range,
    key_buckets,
    range_bounds,
    summed,
    within_range_of,
)

LINES = pl.DataFrame(
    {
        "order_id": [1, 1, 1, 2, 2, 3, None, None, 4, 5, 5, 6],
        "line_no": [1, 1, 2, 1, 2, 1, 1, 1, None, 1, 1, 1],
        "sku": list("abcdefghijkl"),
    }
)
KEYS = ["order_id", "line_no"]


def rows_of(split: list[dict[str, pl.LazyFrame]], name: str) -> list[pl.DataFrame]:
    return [bucket[name].collect() for bucket in split]


def test_each_row_is_in_exactly_one_bucket_with_every_row_of_its_key_in_every_frame(tmp_path):
    frames = {"lines": LINES.lazy(), "some": LINES.lazy().filter(pl.col("sku") > "f")}
    with key_buckets(frames, KEYS, LINES.height, 3, tmp_path) as split:
        buckets, some = rows_of(split, "lines"), rows_of(split, "some")

    assert len(buckets) == 4
    assert sorted(pl.concat(buckets)["sku"]) == list("abcdefghijkl")
    assert sum(1 for bucket in buckets if bucket.height) > 1
    key_sets = [set(bucket.select(KEYS).iter_rows()) for bucket in buckets]
    assert sum(len(keys) for keys in key_sets) == len(set().union(*key_sets))  # no key in two
    assert [set(b["sku"]) & set("ghijkl") for b in buckets] == [set(b["sku"]) for b in some]


def test_the_buckets_are_made_in_one_pass_over_each_frame(tmp_path):
    """Filtering the whole frame once a bucket read every row once a bucket: 4 times here."""
    passed: list[int] = []

    def counted(keys: pl.Series) -> pl.Series:
        passed.append(keys.len())
        return keys

    frame = LINES.lazy().with_columns(pl.col("sku").map_batches(counted, return_dtype=pl.String))
    with key_buckets({"lines": frame}, KEYS, LINES.height, 3, tmp_path) as split:
        assert sum(bucket["lines"].select(pl.len()).collect().item() for bucket in split) == 12

    assert sum(passed) == LINES.height


def test_up_to_one_buckets_rows_there_is_one_bucket_the_frames_as_they_are(tmp_path):
    frame = LINES.lazy()
    with key_buckets({"lines": frame}, KEYS, LINES.height, LINES.height, tmp_path) as split:
        assert split == [{"lines": frame}]
    assert list(tmp_path.iterdir()) == []  # nothing spilled


def test_distinct_keys_counted_a_bucket_at_a_time_equal_the_whole_count(tmp_path):
    whole = LINES.select(pl.struct(KEYS).n_unique()).item()

    assert whole == 9  # (1, 1) and (5, 1) twice, (null, 1) twice
    counts = [distinct_keys(LINES.lazy(), KEYS, LINES.height, rows, tmp_path) for rows in (1, 2, 5, 12)]
    assert counts == [whole] * 4


def test_counts_are_summed_name_by_name():
    assert summed([{"raw": 2, "missing": 0}, {"raw": 3, "missing": 1}]) == {"raw": 5, "missing": 1}


def test_ranges_split_keys_in_order_by_bounds_from_a_sample():
    sample = pl.DataFrame({"order_id": [7, 1, 3, 9, 5, 5, None, 11]})
    bounds = range_bounds(sample, 3)
    keys = pl.DataFrame({"order_id": [0, 4, 5, 6, 7, 12, None]})

    assert bounds["order_id"].to_list() == [5, 7]  # of 1 3 | 5 5 | 7 9 11
    ranges = [keys.filter(in_range(["order_id"], bounds, n))["order_id"].to_list() for n in range(3)]
    assert ranges == [[0, 4, None], [5, 6], [7, 12]]  # null keys in the first
    assert keys.filter(in_range(["order_id"], bounds.clear(), 0)).height == 7  # one range: every row
    assert range_bounds(sample, 1).is_empty()
    assert range_bounds(pl.DataFrame({"order_id": [1, 1, 1]}), 3)["order_id"].to_list() == [1]


def test_ranges_of_a_composite_key_split_its_first_column_by_the_next():
    """Keyed (country, id), two countries: three ranges of the whole key, not one per country; a
    key with a null in any column is in the first range, and every key is in exactly one."""
    sample = pl.DataFrame({"country": ["DE"] * 4 + ["FR"] * 2, "id": [1, 2, 3, 4, 1, 2]})
    bounds = range_bounds(sample, 3)
    keys = pl.DataFrame(
        {
            "country": ["DE", "DE", "DE", "DE", "FR", "FR", "AT", None, "FR"],
            "id": [0, 2, 3, 9, 1, 7, 5, 1, None],
        }
    )

    assert bounds.rows() == [("DE", 3), ("FR", 1)]  # of DE1 DE2 | DE3 DE4 | FR1 FR2
    ranges = [keys.filter(in_range(["country", "id"], bounds, n)).rows() for n in range(3)]
    assert ranges == [
        [("DE", 0), ("DE", 2), ("AT", 5), (None, 1), ("FR", None)],
        [("DE", 3), ("DE", 9)],
        [("FR", 1), ("FR", 7)],
    ]


def test_the_rows_within_the_range_of_text_keys_are_those_between_them_and_the_null_ones():
    table = pl.LazyFrame({"id": ["a1", "b1", "b2", "b3", "c1", None]})
    written = pl.LazyFrame({"id": ["b2", "b1"]})

    assert within_range_of(table, written, ["id"]).collect()["id"].to_list() == ["b1", "b2", None]
    assert within_range_of(table, written.clear(), ["id"]).collect()["id"].to_list() == [None]


def test_the_rows_within_the_range_of_compound_keys_are_those_between_them_as_tuples():
    """(country, id) keys written for a few DE ids: the range is those ids of DE, not all of DE."""
    table = pl.LazyFrame(
        {
            "country": ["AT", "DE", "DE", "DE", "DE", "DE", "FR", None, "DE"],
            "id": [5, 1, 3, 4, 7, 9, 3, 4, None],
        }
    )
    written = pl.LazyFrame({"country": ["DE", "DE", "DE"], "id": [7, 3, None]})

    def within(rows: pl.LazyFrame) -> list[tuple]:
        return within_range_of(table, rows, ["country", "id"]).collect().rows()

    assert within(written) == [("DE", 3), ("DE", 4), ("DE", 7), (None, 4), ("DE", None)]
    assert within(written.clear()) == [(None, 4), ("DE", None)]
