"""Quarantine: the raw records behind rejected rows, with their rules, time and run."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from lakehouse.lib.quality.quarantine import describe, quarantine_rows

AT = datetime(2025, 1, 3, 12, 0, tzinfo=UTC)


def raw_batch() -> pl.DataFrame:
    """Two raw batches whose row numbers overlap: only (batch, row) identifies a record."""
    return pl.DataFrame(
        {
            "customer_id": [1, 2, 3, 1, 2],
            "email": ["A@x.io ", "bad", None, "c@x.io", "bad2"],
            "_batch_id": ["b1", "b1", "b1", "b2", "b2"],
            "_row_number": [1, 2, 3, 1, 2],
        }
    )


def rejected() -> pl.DataFrame:
    """Rejected rows as validation returns them: cleansed values plus `_rules`."""
    return pl.DataFrame(
        {
            "customer_id": [2, 3, 2],
            "email": ["bad", None, "bad2"],
            "email_hash": ["h", None, "h2"],
            "_batch_id": ["b1", "b1", "b2"],
            "_row_number": [2, 3, 2],
            "_rules": [["email:valid_email"], ["email:not_nullable", "email_hash:not_nullable"], ["x:y"]],
        }
    )


def test_rejected_rows_are_quarantined_as_their_raw_records_with_rules_and_run():
    out = quarantine_rows(raw_batch(), rejected(), "run-42", AT).sort("_batch_id", "_row_number")

    assert out.columns == [
        "customer_id",
        "email",
        "_batch_id",
        "_row_number",
        "_rules",
        "_quarantined_at",
        "_quarantine_run_id",
    ]
    assert out.select("customer_id", "email", "_batch_id", "_row_number", "_rules").rows() == [
        (2, "bad", "b1", 2, ["email:valid_email"]),
        (3, None, "b1", 3, ["email:not_nullable", "email_hash:not_nullable"]),
        (2, "bad2", "b2", 2, ["x:y"]),
    ]
    assert out.get_column("_quarantined_at").to_list() == [AT] * 3
    assert out.schema["_quarantined_at"] == pl.Datetime("us", "UTC")
    assert out.get_column("_quarantine_run_id").to_list() == ["run-42"] * 3


def test_the_raw_record_is_kept_as_it_arrived_not_as_cleansed():
    raw = raw_batch().with_columns(pl.col("email").replace("bad", " BAD "))
    out = quarantine_rows(raw, rejected(), "r", AT)

    assert out.filter(pl.col("_batch_id") == "b1", pl.col("_row_number") == 2).get_column("email").item() == (
        " BAD "
    )
    assert "email_hash" not in out.columns


def test_nothing_rejected_gives_an_empty_quarantine_with_the_raw_schema():
    out = quarantine_rows(raw_batch(), rejected().clear(), "r", AT)

    assert out.height == 0
    assert out.columns[:4] == ["customer_id", "email", "_batch_id", "_row_number"]
    assert out.schema["_rules"] == pl.List(pl.String)


def test_describe_gives_one_line_per_row_up_to_the_limit():
    out = quarantine_rows(raw_batch(), rejected(), "r", AT).sort("_batch_id", "_row_number")

    assert describe(out, "raw.customers", limit=2) == [
        "raw.customers b1 row 2: email:valid_email",
        "raw.customers b1 row 3: email:not_nullable, email_hash:not_nullable",
    ]
