"""Pseudonymisation: a keyed hash (HMAC-SHA256) of personal identifiers.

The same email always maps to the same token, so joins and counts still work, but the token cannot
be reversed or recomputed without the key (`LAKEHOUSE_PII_KEY`). Computed in DuckDB, vectorised.
"""

from __future__ import annotations

import hashlib
import logging
import re

import dagster as dg
import duckdb
import polars as pl

_BLOCK = 64  # SHA-256 block size in bytes
# A SQL string literal ('' escapes a quote inside it).
_SQL_STRING = re.compile(r"'(?:[^']|'')*'")
REDACTED = "'***'"


def redact_literals(sql: str) -> str:
    """`sql` with every string literal replaced by `'***'`: what an audit record may keep of a
    statement or predicate that may hold a clear value (`email = 'ann@x.com'` -> `email = '***'`)."""
    return _SQL_STRING.sub(REDACTED, sql)


def _pads(key: str) -> tuple[bytes, bytes]:
    raw = key.encode()
    if len(raw) > _BLOCK:
        raw = hashlib.sha256(raw).digest()
    padded = raw.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


def hmac_sha256(values: pl.Series, key: str) -> pl.Series:
    """HMAC-SHA256 hex digest of each value (nulls stay null), named like the input."""
    inner, outer = _pads(key)
    frame = pl.DataFrame({"value": values})  # noqa: F841 - read by DuckDB's replacement scan
    query = "SELECT sha256($outer || unhex(sha256($inner || encode(value)))) AS h FROM frame"
    with duckdb.connect() as con:
        table = con.sql(query, params={"inner": inner, "outer": outer}).to_arrow_table()
    return pl.Series(values.name, table.column("h")).cast(pl.String)


class Pseudonymiser(dg.ConfigurableResource):
    """Keyed pseudonymisation; the key comes from `LAKEHOUSE_PII_KEY` (never from code or config)."""

    key: str

    def token(self, values: pl.Series) -> pl.Series:
        return hmac_sha256(values, self.key)


# An erased customer's facts stay, attributed to the unknown member: the dimensions' key -1.
ERASED_CUSTOMER_ID = -1
SUBJECT_COLUMN = "customer_id"


def subject_tokens(ids: pl.Series, key: str) -> pl.Series:
    """The keyed token of each customer id (as text, trimmed): what the suppression list holds, so
    it names nobody in clear."""
    return hmac_sha256(ids.cast(pl.String).str.strip_chars(), key)


def suppress(rows: pl.DataFrame, tokens: set[str], key: str, *, drop: bool) -> tuple[pl.DataFrame, int]:
    """Rows of suppressed (erased) customers: dropped (`drop`: the person's own record), else
    attributed to the unknown member; and how many there were.

    Applied at raw, so a source that still holds an erased person never brings them back.
    """
    if not tokens or rows.is_empty() or SUBJECT_COLUMN not in rows.columns:
        return rows, 0
    hit = subject_tokens(rows.get_column(SUBJECT_COLUMN), key).is_in(list(tokens)).fill_null(False)
    count = int(hit.sum())
    if not count:
        return rows, 0
    if drop:
        return rows.filter(~hit), count
    dtype = rows.schema[SUBJECT_COLUMN]
    erased = pl.lit(str(ERASED_CUSTOMER_ID)).cast(dtype)
    return rows.with_columns(pl.when(hit).then(erased).otherwise(SUBJECT_COLUMN).alias(SUBJECT_COLUMN)), count


def reported_suppression(log: logging.Logger, suppressed: int) -> dict[str, int]:
    """Log how many rows of erased customers an ingestion suppressed (when any); the same as
    metadata. Every raw source that keeps erased customers out reports it alike."""
    if suppressed:
        log.info(f"{suppressed} row(s) of erased customers suppressed (privacy/suppression)")
    return {"rows_of_erased_customers": suppressed}
