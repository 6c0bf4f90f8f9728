"""Ingestion columns: every raw row traceable to its source batch and position."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from lakehouse.defs.raw.ingestion import with_ingestion_columns
from lakehouse.lib.columns import INGESTION, now_utc

AT = datetime(2025, 1, 2, 6, 30, 15, 123456, tzinfo=UTC)


def test_adds_every_ingestion_column_with_its_value_and_numbers_rows_from_one():
    rows = pl.DataFrame({"order_id": [7, 8, 9]})

    out = with_ingestion_columns(rows, source="shop.orders", batch_id="b-1", run_id="run-1", ingested_at=AT)

    assert set(out.columns) == {"order_id", *INGESTION}
    assert out.schema["_ingested_at"] == pl.Datetime("us", "UTC")
    assert out.schema["_row_number"] == pl.Int64
    assert out.select("order_id", *INGESTION).rows() == [
        (7, AT, "shop.orders", "b-1", "run-1", 1),
        (8, AT, "shop.orders", "b-1", "run-1", 2),
        (9, AT, "shop.orders", "b-1", "run-1", 3),
    ]


def test_an_existing_row_number_is_kept():
    """Files number their rows by line (header = 1): ingestion must not renumber them."""
    rows = pl.DataFrame({"payment_id": ["p1", "p2"], "_row_number": [2, 5]})

    out = with_ingestion_columns(rows, source="f.csv", batch_id="b", run_id="r", ingested_at=AT)

    assert out.get_column("_row_number").to_list() == [2, 5]
    assert out.columns.count("_row_number") == 1


def test_an_empty_batch_keeps_the_ingestion_schema():
    rows = pl.DataFrame(schema={"order_id": pl.Int64})

    out = with_ingestion_columns(rows, source="s", batch_id="b", run_id="r", ingested_at=AT)

    assert out.height == 0
    assert out.schema["_ingested_at"] == pl.Datetime("us", "UTC")
    assert out.schema["_row_number"] == pl.Int64
    assert out.schema["_batch_id"] == pl.String


def test_now_utc_is_timezone_aware_utc():
    assert now_utc().tzinfo is UTC
