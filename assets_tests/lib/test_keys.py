"""Dimension keys: yyyymmdd date keys and surrogate lookups that fall back to the unknown member."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from lakehouse.lib.keys import UNKNOWN_KEY, date_key, lookup_version


def test_date_key_is_the_yyyymmdd_integer_of_a_date_or_utc_timestamp():
    frame = pl.DataFrame(
        {
            "day": [date(2025, 3, 1), date(1999, 12, 31)],
            "at": [datetime(2025, 3, 1, 23, 59, 59, tzinfo=UTC), datetime(2024, 2, 29, 0, 0, tzinfo=UTC)],
        }
    )

    keys = frame.select(date_key(pl.col("day")).alias("d"), date_key(pl.col("at")).alias("t"))

    assert keys.rows() == [(20250301, 20250301), (19991231, 20240229)]
    assert keys.schema["d"] == pl.Int32


def at(hour: int) -> datetime:
    return datetime(2025, 1, 1, hour, tzinfo=UTC)


# Customer 10: version 101 from 02:00 (its first), 102 from 05:00, deleted at 08:00 (103).
DIM = pl.LazyFrame(
    {
        "customer_key": [UNKNOWN_KEY, 101, 102, 103],
        "customer_id": [UNKNOWN_KEY, 10, 10, 10],
        "valid_from": [datetime(1970, 1, 1, tzinfo=UTC), at(2), at(5), at(8)],
        "is_deleted": [False, False, False, True],
    }
)


def test_lookup_version_takes_the_version_valid_at_the_fact_time():
    facts = pl.LazyFrame({"line": [1, 2, 3, 4, 5, 6], "customer_id": [10, 10, 10, 10, 99, None]})
    facts = facts.with_columns(pl.Series("t", [at(1), at(2), at(4), at(5), at(3), at(3)]))

    out = lookup_version(facts, DIM, "customer_id", "customer_key", "t").collect().sort("line")

    # 01:00 is before the first version: the history starts with it. 99 and null are unknown.
    assert out.select("line", "customer_key").rows() == [
        (1, 101),
        (2, 101),
        (3, 101),
        (4, 102),
        (5, -1),
        (6, -1),
    ]


def test_lookup_version_keeps_the_last_live_version_after_a_deletion():
    facts = pl.LazyFrame({"customer_id": [10], "t": [at(9)]})

    assert lookup_version(facts, DIM, "customer_id", "customer_key", "t").collect()[
        "customer_key"
    ].to_list() == [102]


def test_lookup_version_never_matches_a_fact_to_the_unknown_member_by_business_key():
    """A fact whose business key happens to be -1 still gets -1, and is not duplicated."""
    facts = pl.LazyFrame({"line": [1], "customer_id": [-1], "t": [at(3)]})

    assert lookup_version(facts, DIM, "customer_id", "customer_key", "t").collect().rows() == [
        (1, -1, at(3), -1)
    ]


def test_a_lookup_computes_nothing_until_its_rows_are_collected():
    """A batched write asks the first batch's schema before reading the batches: the look-up must
    not compute the facts to answer it (it once did, so every fact built its first batch twice)."""
    computed: list[int] = []

    def facts() -> pl.DataFrame:
        computed.append(1)
        return pl.DataFrame({"customer_id": [10], "order_at": [at(6)]})

    lazy = pl.defer(facts, schema={"customer_id": pl.Int64, "order_at": pl.Datetime("us", "UTC")})
    keyed = lookup_version(lazy, DIM, "customer_id", "customer_key", "order_at")

    assert keyed.collect_schema()["customer_key"] == pl.Int64
    assert computed == []
    assert keyed.collect().get_column("customer_key").to_list() == [102]
    assert computed == [1]
