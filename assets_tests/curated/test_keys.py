"""Dimension keys: yyyymmdd date keys and surrogate lookups that fall back to the unknown member."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from lakehouse.curated.keys import UNKNOWN_KEY, date_key, lookup_key


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


def test_lookup_key_adds_the_surrogate_key_and_maps_missing_to_the_unknown_member():
    facts = pl.LazyFrame({"line": [1, 2, 3, 4], "customer_id": [10, 99, None, 10]})
    dim = pl.LazyFrame({"customer_key": [UNKNOWN_KEY, 110], "customer_id": [UNKNOWN_KEY, 10]})

    out = lookup_key(facts, dim, "customer_id", "customer_key").collect()

    assert out.rows() == [(1, 10, 110), (2, 99, -1), (3, None, -1), (4, 10, 110)]


def test_lookup_key_never_matches_a_fact_to_the_unknown_member_by_business_key():
    """A fact whose business key happens to be -1 still gets -1, and is not duplicated."""
    facts = pl.LazyFrame({"line": [1], "product_id": [-1]})
    dim = pl.LazyFrame({"product_key": [UNKNOWN_KEY, 7], "product_id": [UNKNOWN_KEY, 7]})

    assert lookup_key(facts, dim, "product_id", "product_key").collect().rows() == [(1, -1, -1)]
