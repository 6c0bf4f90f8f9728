"""Refined customers: cleansing, the contract's rules and severities, pseudonymised emails."""

from __future__ import annotations

import hashlib
import hmac

import polars as pl
import pytest

from lakehouse.defs.refined.customers import CUSTOMERS, CustomerContract, transform

from .support import INGESTED_AT, raw_frame, refine, rejected_rules, utc, valid_rows

UPDATED = "2025-01-02T06:00:00.000000Z"


@pytest.fixture(scope="module")
def raw() -> pl.DataFrame:
    return raw_frame(
        {
            "customer_id": [1, 2, 3, 4, None, 6],
            "email": [
                "  Ann.Lee@Example.COM ",  # 1 clean: trimmed and lower-cased
                "ann.leeexample.com",  # 2 malformed: no @
                None,  # 3 missing email
                "bo@example.org",  # 4 clean, unknown country (warn only)
                "cy@example.org",  # 5 no customer id
                "dee lee@example.org",  # 6 malformed: space inside
            ],
            "first_name": [" Ann ", "Ann", "Bo", "Bo", "Cy", ""],
            "last_name": ["Lee", "Lee", "Ng", "Ng", "Ox", "Lee"],
            "country": ["de", "DE", "FR", "XX", "US", "GB"],
            "signup_at": [
                "2025-01-01T10:15:00+01:00",
                "2025-01-01T10:15:00+01:00",
                "2024-12-31T23:30:00-05:00",
                None,
                "2025-01-01T00:00:00+00:00",
                "2025-01-01T00:00:00+00:00",
            ],
            "updated_at": [UPDATED] * 6,
            "deleted_at": [None, None, None, UPDATED, None, None],
        },
        schema={"customer_id": pl.Int64},
    )


@pytest.fixture(scope="module")
def checked(raw):
    return refine(transform, CustomerContract, raw)


def test_a_deleted_customer_stays_valid_with_its_deletion_time(checked):
    rows = checked.valid.sort("_row_number").select("customer_id", "deleted_at").rows()
    assert rows == [(1, None), (4, utc(2025, 1, 2, 6, 0))]


def test_clean_rows_are_valid_and_each_defect_is_rejected_with_its_rules(checked):
    assert valid_rows(checked) == [1, 4]
    assert rejected_rules(checked) == {
        2: ["email:valid_email"],
        3: ["email:not_nullable"],
        5: ["customer_id:not_nullable"],
        6: ["email:valid_email"],
    }


def test_unknown_country_is_a_warning_not_a_rejection(checked):
    assert checked.warnings == {"country:known_country": 1}
    assert checked.rule_failures == {
        "country:known_country": 1,
        "customer_id:not_nullable": 1,
        "email:not_nullable": 1,
        "email:valid_email": 2,
    }


def test_cleansed_values_are_trimmed_coded_and_in_utc(checked):
    row = checked.valid.filter(pl.col("_row_number") == 1).row(0, named=True)
    assert row["email"] == "ann.lee@example.com"
    assert row["first_name"] == "Ann"
    assert row["country"] == "DE"
    assert row["signup_at"] == utc(2025, 1, 1, 9, 15)  # 10:15 at +01:00
    assert row["updated_at"] == utc(2025, 1, 2, 6, 0)
    assert (row["_ingested_at"], row["_batch_id"]) == (INGESTED_AT, "batch-1")

    rejected = checked.rejected.filter(pl.col("_row_number") == 6).row(0, named=True)
    assert rejected["first_name"] is None  # empty text becomes null


def test_negative_offset_crosses_midnight_into_the_next_utc_day(checked):
    row = checked.rejected.filter(pl.col("_row_number") == 3).row(0, named=True)
    assert row["signup_at"] == utc(2025, 1, 1, 4, 30)  # 23:30 at -05:00


def test_email_hash_is_the_keyed_hmac_of_the_cleansed_email(checked):
    hashes = dict(checked.valid.select("_row_number", "email_hash").iter_rows())
    expected = hmac.new(b"test-key", b"ann.lee@example.com", hashlib.sha256).hexdigest()
    assert hashes[1] == expected
    assert hashes[4] == hmac.new(b"test-key", b"bo@example.org", hashlib.sha256).hexdigest()


def test_refined_output_drops_the_clear_text_email():
    assert "email" not in CUSTOMERS.output_columns
    assert CUSTOMERS.output_columns == [
        "customer_id",
        "email_hash",
        "first_name",
        "last_name",
        "country",
        "signup_at",
        "updated_at",
        "deleted_at",
        "_ingested_at",
        "_batch_id",
        "_row_number",
    ]


def test_a_value_that_does_not_parse_is_quarantined_not_silently_nulled():
    # signup_at is optional, but a value that is there and does not parse is an error, not a null.
    raw = raw_frame(
        {
            "customer_id": [1, 2],
            "email": ["a@example.com", "b@example.com"],
            "first_name": ["A", "B"],
            "last_name": ["A", "B"],
            "country": ["DE", "DE"],
            "signup_at": ["2025-03-01T10:15:00+01:00", "2025-03-01 10:15"],
            "updated_at": [UPDATED] * 2,
            "deleted_at": [None, None],
        },
        schema={"customer_id": pl.Int64, "deleted_at": pl.String},
    )
    checked = refine(transform, CustomerContract, raw)
    assert valid_rows(checked) == [1]
    assert rejected_rules(checked) == {2: ["signup_at:parseable"]}
