"""Pseudonymisation: the DuckDB HMAC-SHA256 equals the standard library's, byte for byte."""

from __future__ import annotations

import hashlib
import hmac
import logging

import polars as pl
import pytest

from lakehouse.lib.privacy import (
    ERASED_CUSTOMER_ID,
    Pseudonymiser,
    hmac_sha256,
    reported_suppression,
    subject_tokens,
    suppress,
)


def reference(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("test-key", "ann.lee@example.com"),
        ("test-key", "zoë.ñúñez@exämple.de"),  # non-ASCII value: hashed as UTF-8
        ("K" * 100, "ann.lee@example.com"),  # key longer than the 64-byte block: hashed first
        ("ключ" * 9, "x"),  # 36 characters, 72 UTF-8 bytes: longer than a block in bytes
        ("k" * 64, "exactly one block of key"),
        ("test-key", ""),
    ],
)
def test_equals_the_standard_library_hmac(key, value):
    assert hmac_sha256(pl.Series("email", [value]), key).to_list() == [reference(key, value)]


def test_known_vector_from_rfc_4231_case_2():
    digest = hmac_sha256(pl.Series(["what do ya want for nothing?"]), "Jefe").item()
    assert digest == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_nulls_stay_null_and_the_name_is_kept():
    out = hmac_sha256(pl.Series("email", ["a@x.io", None, "b@x.io"]), "test-key")

    assert out.name == "email"
    assert out.dtype == pl.String
    assert out.to_list() == [reference("test-key", "a@x.io"), None, reference("test-key", "b@x.io")]


def test_same_value_same_token_different_key_different_token():
    values = pl.Series(["a@x.io", "a@x.io"])

    first, again = hmac_sha256(values, "key-one").to_list()
    other = hmac_sha256(values, "key-two").item(0)

    assert first == again
    assert other != first


def test_an_empty_series_gives_an_empty_string_series():
    out = hmac_sha256(pl.Series("email", [], pl.String), "k")
    assert (out.len(), out.dtype) == (0, pl.String)


def test_pseudonymiser_token_uses_its_key():
    values = pl.Series("email", ["a@x.io"])
    assert Pseudonymiser(key="secret").token(values).to_list() == [reference("secret", "a@x.io")]


def test_suppressed_rows_are_attributed_to_the_unknown_member_logged_and_reported(caplog):
    """What raw events and the shop tables both do with an erased customer's facts."""
    rows = pl.DataFrame({"customer_id": [7, 8, 7], "amount": [1, 2, 3]})
    erased = set(subject_tokens(pl.Series([7]), "k"))
    log = logging.getLogger("lakehouse.test_privacy")

    kept, count = suppress(rows, erased, "k", drop=False)
    with caplog.at_level(logging.INFO, logger=log.name):
        reported = reported_suppression(log, count), reported_suppression(log, 0)

    assert kept.get_column("customer_id").to_list() == [ERASED_CUSTOMER_ID, 8, ERASED_CUSTOMER_ID]
    assert reported == ({"rows_of_erased_customers": 2}, {"rows_of_erased_customers": 0})
    assert caplog.messages == ["2 row(s) of erased customers suppressed (privacy/suppression)"]
