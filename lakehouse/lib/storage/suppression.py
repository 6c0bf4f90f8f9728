"""The suppression list: keyed tokens of erased customers, which raw ingestion keeps out.

A Delta table (`privacy/suppression`) of `customer_token` (HMAC-SHA256 of the customer id with
`LAKEHOUSE_PII_KEY`, see `lib.privacy.subject_tokens`), the erasure request and when. It names nobody
in clear; only the lakehouse, holding the key, can match an incoming row against it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from deltalake import write_deltalake

from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.location import join

SUPPRESSION_TABLE = ("privacy", "suppression")


def suppression_uri(tables_dir: Path | str) -> str:
    return join(tables_dir, *SUPPRESSION_TABLE)


def suppressed_tokens(tables_dir: Path | str) -> set[str]:
    """Every suppressed customer's token (none before the first erasure)."""
    uri = suppression_uri(tables_dir)
    if not delta_tables.exists(uri):
        return set()
    return set(delta_tables.scan(uri).select("customer_token").collect().to_series().to_list())


def add(tables_dir: Path | str, token: str, request_id: str) -> int:
    """Suppress a customer's token (idempotent per request); the table's version after."""
    row = pl.DataFrame(
        {"customer_token": [token], "request_id": [request_id], "at": [datetime.now(UTC)]},
        schema={"customer_token": pl.String, "request_id": pl.String, "at": pl.Datetime("us", "UTC")},
    )
    uri = suppression_uri(tables_dir)
    if token not in suppressed_tokens(tables_dir):
        write_deltalake(uri, row.to_arrow(), mode="append")
    return delta_tables.version(uri) or 0
