"""Dimension keys shared by the star schema."""

import polars as pl

# Kimball's unknown member: a fact whose dimension row is missing (a customer still in quarantine)
# points here instead of being dropped, so revenue is never lost to a late dimension.
UNKNOWN_KEY = -1


def date_key(day: pl.Expr) -> pl.Expr:
    """A date (or timestamp) as its yyyymmdd integer key (2025-03-01 -> 20250301)."""
    return (day.dt.year() * 10_000 + day.dt.month().cast(pl.Int32) * 100 + day.dt.day().cast(pl.Int32)).cast(
        pl.Int32
    )


def lookup_key(facts: pl.LazyFrame, dim: pl.LazyFrame, business_key: str, key: str) -> pl.LazyFrame:
    """Add the dimension's surrogate `key` by business key; unknown member when not found."""
    keys = dim.filter(pl.col(key) != UNKNOWN_KEY).select(business_key, key)
    return facts.join(keys, on=business_key, how="left", maintain_order="left").with_columns(
        pl.col(key).fill_null(UNKNOWN_KEY)
    )
