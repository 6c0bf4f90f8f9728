"""Rows split by a hash of their key, so work over every key of a table holds one bucket at a time.

Counting distinct keys, grouping rows by key or setting two tables' keys against each other holds
every key at once: 38M event ids at scale 10 took 3.5 GB to count distinct, 4.2 GB to group and
6.7 GB to reconcile with raw. A key hashes to the same bucket wherever it is (same values, same
types, same hash), so a key's rows, its duplicates and its match in another table are all in one
bucket: counts made bucket by bucket and summed are the whole table's. Up to one bucket's rows,
there is one bucket and no filter: small tables are read once, as before.

Several buckets are made in one streaming pass over each frame, spilled to disk by bucket
(`spilled`), not by filtering the whole frame once per bucket: that re-read and re-hashed every key
once a bucket, so the work grew with the square of the rows (events' checks at scale 10, in ten
buckets: 100x scale 1's for 10x the rows).

Ranges split rows by key too, but keep keys in order: their bounds come from a sample of the keys,
so that rows written range after range, each sorted, lay a table out in files of disjoint key
ranges (a merge then rewrites only the files holding the keys it brings).
"""

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from lakehouse.lib.storage.spill import scratch_folder

SEED = 0  # one hash for every side of a comparison
_BUCKET = "_bucket"
# Rows of a spilled file's row groups: the split holds a row group's rows of each bucket until it
# is written, so its memory follows buckets x this (77 buckets of every event column: 2.5 GB with
# Polars' default, 0.9 GB with this).
SPILL_ROW_GROUP = 20_000


def bucket_of(keys: Sequence[str | pl.Expr], buckets: int) -> pl.Expr:
    """The bucket (0 .. buckets - 1) of each row's key."""
    return pl.struct(list(keys)).hash(seed=SEED) % buckets


def bucket_count(rows: int, bucket_rows: int) -> int:
    """How many buckets make about `bucket_rows` rows each (at least one)."""
    return max(1, -(-rows // bucket_rows))


@contextmanager
def spilled(
    frames: Mapping[str, pl.LazyFrame], bucket: pl.Expr, buckets: int, scratch: Path
) -> Iterator[list[dict[str, pl.LazyFrame]]]:
    """Each of `frames` split by `bucket` (each row's bucket, 0 .. buckets - 1): for each bucket,
    every frame's rows in it. Each frame is read once, by streaming, into files by bucket in a
    folder under `scratch` that lasts as long as the context (`spill.scratch_folder`). One bucket:
    the frames as they are."""
    if buckets == 1:
        yield [dict(frames)]
        return
    with scratch_folder(scratch, "key-buckets-") as folder:
        split = {name: _spill(frame, bucket, folder / name) for name, frame in frames.items()}
        yield [{name: of_bucket(number) for name, of_bucket in split.items()} for number in range(buckets)]


def _spill(frame: pl.LazyFrame, bucket: pl.Expr, folder: Path) -> Callable[[int], pl.LazyFrame]:
    """`frame` written to `folder` by bucket; the bucket's rows by number (none: an empty frame)."""
    schema = frame.collect_schema()
    partition = pl.PartitionBy(folder, key=bucket.alias(_BUCKET), include_key=False)
    frame.sink_parquet(partition, compression="lz4", row_group_size=SPILL_ROW_GROUP, mkdir=True)

    def of_bucket(number: int) -> pl.LazyFrame:
        files = folder / f"{_BUCKET}={number}"
        return pl.scan_parquet(files, schema=schema) if files.exists() else pl.LazyFrame(schema=schema)

    return of_bucket


@contextmanager
def key_buckets(
    frames: Mapping[str, pl.LazyFrame],
    keys: Sequence[str | pl.Expr],
    rows: int,
    bucket_rows: int,
    scratch: Path,
) -> Iterator[list[dict[str, pl.LazyFrame]]]:
    """`frames` split by a hash of `keys` into buckets of about `bucket_rows` of `rows` rows
    (`spilled` under `scratch`): a key's rows in every frame are in one bucket."""
    buckets = bucket_count(rows, bucket_rows)
    with spilled(frames, bucket_of(keys, buckets), buckets, scratch) as split:
        yield split


def summed(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counts made bucket by bucket, summed name by name."""
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return dict(total)


def distinct_keys(
    frame: pl.LazyFrame, keys: Sequence[str], rows: int, bucket_rows: int, scratch: Path
) -> int:
    """Distinct values of `keys` among `rows` rows, counted a bucket at a time by streaming (the
    buckets spilled under `scratch`)."""
    key = pl.struct(list(keys))
    with key_buckets({"keys": frame.select(keys)}, keys, rows, bucket_rows, scratch) as split:
        return sum(
            bucket["keys"].select(key.n_unique()).collect(engine="streaming").item() for bucket in split
        )


def range_bounds(sample: pl.DataFrame, ranges: int) -> pl.DataFrame:
    """Up to `ranges - 1` sorted, distinct keys (rows of the sample's key columns) splitting keys
    like the `sample` into `ranges` ranges of about equal rows (fewer when the sample has fewer
    distinct keys). Keys sort as tuples, column after column, so a range's share follows the whole
    key: by its first column alone, a table keyed (country, id) had a range per country."""
    ordered = sample.drop_nulls().sort(sample.columns)
    picks = [ordered.height * number // ranges for number in range(1, ranges)]
    return ordered[picks].unique(maintain_order=True) if ordered.height else ordered


def in_range(keys: Sequence[str], bounds: pl.DataFrame, number: int) -> pl.Expr:
    """Whether each row's key (`keys`) is in range `number` (0 .. bounds.height) of the sorted
    `bounds` (`range_bounds`): at least the bound below it and below the bound above it; a key with
    a null is in the first range. Plain comparisons, so that a scan skips the files and row groups
    outside it by their statistics (the first column's, then the next's where the first is equal)."""
    if number == 0:
        first = _below(bounds, 0) if bounds.height else pl.lit(True)
        return pl.any_horizontal(pl.col(key).is_null() for key in keys) | first
    above = ~_below(bounds, number - 1)
    return above & _below(bounds, number) if number < bounds.height else above


def _below(bounds: pl.DataFrame, number: int) -> pl.Expr:
    """Whether each row's key sorts before bound `number`, column after column (null where the key
    has a null)."""
    return _sorts_before(bounds[number], or_equal=False)


def _sorts_before(bound: pl.DataFrame, or_equal: bool) -> pl.Expr:
    """Whether each row's key (the columns of the one-row `bound`) sorts before `bound` (or equals
    it: `or_equal`), column after column, in plain comparisons a scan prunes by."""
    *heads, last = [pl.lit(value, dtype) for value, dtype in zip(bound.row(0), bound.dtypes, strict=True)]
    *keys, last_key = [pl.col(key) for key in bound.columns]
    below = last_key <= last if or_equal else last_key < last
    for key, value in zip(reversed(keys), reversed(heads), strict=True):
        below = (key < value) | ((key == value) & below)
    return below


def within_range_of(table: pl.LazyFrame, rows: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """The rows of `table` whose key (`columns`) lies within the range of `rows`' keys (typed
    alike; keys sort as tuples, column after column), or has a null: every row a join on those
    columns with `rows` can match.

    What makes a look-up of a day's keys follow them, not the table: keys are assigned in order
    (a day's events, orders and their lines have neighbouring keys) and tables are laid out in
    files of key ranges (refined) or days (facts), so the files outside the range are skipped by
    their statistics instead of the whole key column being read. The whole key, not its first
    column: the range of (country, id) keys written in a day is a few ids of a country, not the
    whole country.
    """
    keys = rows.select(columns).drop_nulls()
    ends = pl.concat([keys.bottom_k(1, by=columns), keys.top_k(1, by=columns)]).collect(engine="streaming")
    has_null = pl.any_horizontal(pl.col(column).is_null() for column in columns)
    if ends.is_empty():
        return table.filter(has_null)
    within = ~_sorts_before(ends[0], or_equal=False) & _sorts_before(ends[1], or_equal=True)
    return table.filter(within | has_null)


def looked_up(
    table: pl.LazyFrame,
    keys: pl.LazyFrame,
    on: list[str],
    where: Callable[[pl.DataFrame], pl.Expr] | None = None,
) -> pl.LazyFrame:
    """The rows of `table` matching one of `keys` (a few changed orders, say) on the columns `on`:
    the keys computed once, the table read only where they may be: `where` of the keys found (a
    filter a scan prunes files by, when the key's own range cannot: a day derived from a time),
    else within their range (`within_range_of`)."""
    found = keys.select(on).collect(engine="streaming")
    near = within_range_of(table, found.lazy(), on) if where is None else table.filter(where(found))
    return near.join(found.lazy(), on=on, how="semi")
