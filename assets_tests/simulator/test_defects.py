"""Every defect the ground truth lists is in the written sources, and nothing else is."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from assets_tests.simulator.helpers import EMAIL, payment_lines, read_table
from lakehouse.lib.currency import USD_RATES
from lakehouse.simulator import DEFECT_KINDS, DEFECTS_FILE, KEYS, Params, build_state

CURRENCIES = list(USD_RATES)


@pytest.fixture(scope="module")
def defects(demo: Path) -> pl.DataFrame:
    return pl.read_parquet(demo / DEFECTS_FILE)


def _keys(defects: pl.DataFrame, table: str, defect: str) -> set[str]:
    return set(defects.filter(table=table, defect=defect)["key"])


def _split(frame: pl.DataFrame, table: str, keys: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows whose key is in `keys`, and the others."""
    marked = KEYS[table].is_in(list(keys))
    return frame.filter(marked), frame.filter(~marked)


def test_the_demo_has_every_kind_of_defect(demo_manifest: dict[str, Any]) -> None:
    counts = demo_manifest["defect_counts"]
    assert {(kind.table, kind.defect) for kind in DEFECT_KINDS} == {
        (table, defect) for table, kinds in counts.items() for defect in kinds
    }
    assert all(count > 0 for kinds in counts.values() for count in kinds.values()), counts


def test_counts_follow_the_documented_rates(demo_manifest: dict[str, Any], defects: pl.DataFrame) -> None:
    rows = {
        table: demo_manifest["clean_rows"][table] + quarantined
        for table, quarantined in defects.filter(handling="quarantine").group_by("table").len().rows()
    }
    for kind in DEFECT_KINDS:
        expected = kind.rate * rows[kind.table]
        if expected >= 40:  # enough rows for the count to be close to its expectation
            count = demo_manifest["defect_counts"][kind.table][kind.defect]
            assert 0.6 * expected < count < 1.4 * expected, (kind, count, expected)


def test_defects_are_recorded_with_their_handling_and_rule(defects: pl.DataFrame) -> None:
    expected = {(k.table, k.defect, k.handling, k.rule) for k in DEFECT_KINDS}
    recorded = set(defects.select("table", "defect", "handling", "rule").unique().rows())
    assert recorded == expected
    assert defects.schema == pl.Schema(
        {
            "table": pl.String,
            "key": pl.String,
            "defect": pl.String,
            "handling": pl.String,
            "rule": pl.String,
            "day": pl.Int64,
        }
    )
    assert defects["day"].min() == 0
    assert defects["day"].max() <= 364


def test_a_row_has_at_most_one_defect(defects: pl.DataFrame) -> None:
    assert defects.select("table", "key").is_unique().all()


@pytest.mark.parametrize("table", ["customers", "products", "orders", "order_items"])
def test_duplicates_are_exact_copies_written_twice(demo: Path, defects: pl.DataFrame, table: str) -> None:
    rows = read_table(demo, table)
    copies = rows.group_by(KEYS[table].alias("key")).agg(
        rows=pl.len(), distinct=pl.struct(pl.all()).n_unique()
    )
    duplicated = _keys(defects, table, "duplicate_row")
    assert set(copies.filter(pl.col("rows") > 1)["key"]) == duplicated
    assert copies["rows"].max() <= 2
    assert (copies["distinct"] == 1).all()


def test_customer_defects(demo: Path, defects: pl.DataFrame) -> None:
    customers = read_table(demo, "customers")
    email = pl.col("email").str.strip_chars().str.to_lowercase()
    malformed, _ = _split(customers, "customers", _keys(defects, "customers", "malformed_email"))
    missing, _ = _split(customers, "customers", _keys(defects, "customers", "missing_email"))
    invalid = customers.filter(pl.col("email").is_null() | ~email.str.contains(EMAIL))

    assert malformed.height > 0
    assert malformed.select(email.str.contains(EMAIL).any()).item() is False
    assert missing.height > 0
    assert missing["email"].null_count() == missing.height
    assert invalid.height == malformed.height + missing.height


def test_missing_prices(demo: Path, defects: pl.DataFrame) -> None:
    products = read_table(demo, "products")
    missing, others = _split(products, "products", _keys(defects, "products", "missing_price"))

    assert missing.height > 0
    assert missing["unit_price"].null_count() == missing.height
    assert others["unit_price"].null_count() == 0


def test_order_defects(demo: Path, defects: pl.DataFrame) -> None:
    orders = read_table(demo, "orders")
    customers = set(read_table(demo, "customers")["customer_id"])
    missing, others = _split(orders, "orders", _keys(defects, "orders", "missing_customer"))
    lowercase, uppercase = _split(orders, "orders", _keys(defects, "orders", "lowercase_currency"))

    assert missing.height > 0
    assert missing["customer_id"].null_count() == missing.height
    assert set(others["customer_id"]) <= customers
    assert lowercase.height > 0
    assert lowercase["currency"].is_in([c.lower() for c in CURRENCIES]).all()
    assert uppercase["currency"].is_in(CURRENCIES).all()


def test_order_item_defects(demo: Path, defects: pl.DataFrame) -> None:
    items = read_table(demo, "order_items")
    products = read_table(demo, "products")["product_id"]
    negative, _ = _split(items, "order_items", _keys(defects, "order_items", "negative_quantity"))
    unknown, _ = _split(items, "order_items", _keys(defects, "order_items", "unknown_product"))

    assert negative.height > 0
    assert set(items.filter(pl.col("quantity") <= 0).rows()) == set(negative.rows())
    assert unknown.height > 0
    orphans = items.filter(~pl.col("product_id").is_in(products.implode()))
    assert set(orphans.rows()) == set(unknown.rows())


def test_payment_defects(demo: Path, defects: pl.DataFrame) -> None:
    lines = payment_lines(demo).with_columns(place=pl.format("{}:{}", "file", "line_number"))
    well_formed = lines.filter(pl.col("fields").list.len() == 6).with_columns(
        payment_id=pl.col("fields").list.get(0), currency=pl.col("fields").list.get(3)
    )
    malformed = lines.filter(pl.col("fields").list.len() != 6)
    per_file = well_formed.group_by("file", "line").agg(pl.len(), pl.first("payment_id"))
    lowercase = well_formed.filter(pl.col("currency").is_in([c.lower() for c in CURRENCIES]))

    assert set(malformed["place"]) == _keys(defects, "payments", "malformed_line")
    assert set(per_file.filter(pl.col("len") == 2)["payment_id"]) == _keys(
        defects, "payments", "duplicate_row"
    )
    assert per_file["len"].max() == 2
    assert set(lowercase["payment_id"]) == _keys(defects, "payments", "lowercase_currency")
    assert well_formed["currency"].is_in(CURRENCIES + [c.lower() for c in CURRENCIES]).all()


def test_a_malformed_line_replaces_its_payment(demo: Path, defects: pl.DataFrame) -> None:
    lines = payment_lines(demo)
    orders_paid = lines.filter(pl.col("fields").list.len() == 6)["fields"].list.get(1)
    lost = lines.filter(pl.col("fields").list.len() != 6)["fields"].list.get(1)

    assert lost.len() == len(_keys(defects, "payments", "malformed_line"))
    assert not set(lost) & set(orders_paid)


def test_tiny_scales_still_have_a_missing_price_and_a_malformed_line() -> None:
    state = build_state(Params(scale=0.0005, seed=11, start=date(2025, 1, 1), days=3))
    counts = state.manifest["defect_counts"]

    assert state.sources.tables["products"].height == 8 + 1  # one a category, and the day-1 test listing
    assert counts["products"]["missing_price"] >= 1
    assert counts["payments"]["malformed_line"] >= 1
    malformed = state.sources.defects.filter(defect="malformed_line")
    assert set(malformed["key"].str.extract(r"^(settlement_[\d-]+\.csv)")) == {"settlement_2025-01-03.csv"}
