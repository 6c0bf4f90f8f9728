"""Key buckets: every row in one bucket, a key's rows together, counts summed equal to the whole's."""

import polars as pl

from lakehouse.lib.key_buckets import distinct_keys, key_buckets, summed

LINES = pl.DataFrame(
    {
        "order_id": [1, 1, 1, 2, 2, 3, None, None, 4, 5, 5, 6],
        "line_no": [1, 1, 2, 1, 2, 1, 1, 1, None, 1, 1, 1],
        "sku": list("abcdefghijkl"),
    }
)
KEYS = ["order_id", "line_no"]


def test_each_row_is_in_exactly_one_bucket_with_every_row_of_its_key():
    buckets = [LINES.filter(in_bucket) for in_bucket in key_buckets(KEYS, LINES.height, bucket_rows=3)]

    assert len(buckets) == 4
    assert sorted(pl.concat(buckets)["sku"]) == list("abcdefghijkl")
    assert sum(1 for bucket in buckets if bucket.height) > 1
    key_sets = [set(bucket.select(KEYS).iter_rows()) for bucket in buckets]
    assert sum(len(keys) for keys in key_sets) == len(set().union(*key_sets))  # no key in two


def test_up_to_one_buckets_rows_there_is_one_bucket_every_row_passes():
    (in_bucket,) = key_buckets(KEYS, LINES.height, bucket_rows=LINES.height)

    assert LINES.filter(in_bucket).equals(LINES)


def test_distinct_keys_counted_a_bucket_at_a_time_equal_the_whole_count():
    whole = LINES.select(pl.struct(KEYS).n_unique()).item()

    assert whole == 9  # (1, 1) and (5, 1) twice, (null, 1) twice
    assert [distinct_keys(LINES.lazy(), KEYS, LINES.height, rows) for rows in (1, 2, 5, 12)] == [whole] * 4


def test_counts_are_summed_name_by_name():
    assert summed([{"raw": 2, "missing": 0}, {"raw": 3, "missing": 1}]) == {"raw": 5, "missing": 1}
