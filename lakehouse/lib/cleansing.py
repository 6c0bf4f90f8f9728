"""Column cleansing shared by the refined transforms: trimming, UTC timestamps, money."""

from __future__ import annotations

import polars as pl

from lakehouse.lib.currency import MONEY


def trimmed(column: str) -> pl.Expr:
    """Text without surrounding whitespace; empty text becomes null."""
    text = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text).alias(column)


def code(column: str) -> pl.Expr:
    """An upper-case code such as an ISO currency or country (`eur ` -> `EUR`)."""
    return trimmed(column).str.to_uppercase().alias(column)


def utc_from_local(column: str) -> pl.Expr:
    """ISO 8601 local time with a UTC offset (`2025-03-01T10:15:00+01:00`) as a UTC timestamp."""
    return (
        pl.col(column)
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%z", time_unit="us", strict=False)
        .dt.convert_time_zone("UTC")
        .alias(column)
    )


def utc_from_zulu(column: str) -> pl.Expr:
    """ISO 8601 UTC time (`2025-01-02T06:00:00.123456Z`) as a UTC timestamp."""
    return pl.col(column).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC", strict=False
    )


def money(column: str) -> pl.Expr:
    """A numeric money amount (a database REAL) as Decimal(18, 2), rounded to the nearest cent."""
    return pl.col(column).cast(pl.Float64, strict=False).round(2).cast(MONEY).alias(column)


MONEY_TEXT = r"^-?\d+(\.\d{1,2})?$"


def money_text(column: str) -> pl.Expr:
    """A money amount written as text (`12.34`, ` 3.1 `) as Decimal(18, 2), exactly.

    Anything else (`12,50`, `12.345`, `1e3`) is null, so the row is quarantined as unparseable
    rather than rounded or guessed.
    """
    text = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(text.str.contains(MONEY_TEXT)).then(text.cast(MONEY, strict=False)).alias(column)


def integer(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int64, strict=False)
