"""Refined tables declared with a source: its inline contract as a pandera model, and a typed transform."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pydantic
import pytest

from assets_tests.defs.refined.support import raw_frame, refine, rejected_rules, utc, valid_rows
from lakehouse.components.declared import refined_tables
from lakehouse.defs.refined.declared import contract_model, declared_transform
from lakehouse.lib.quality.contract import contract_columns, severities, table_schema
from lakehouse.sources.declared import ColumnRule, InlineContract

(INVENTORY,) = [t for t in refined_tables() if t.name == "supplier_inventory"]

EVERY_TYPE = InlineContract.model_validate(
    {
        "description": "Every declared type.",
        "sequence": "at",
        "columns": {
            "id": {"type": "integer", "nullable": False, "description": "Id."},
            "day": {"type": "date", "description": "Day."},
            "at": {"type": "timestamp", "nullable": False, "description": "When."},
            "price": {"type": "decimal", "min": 0, "description": "Price."},
            "share": {"type": "float", "max": 1, "description": "Share."},
            "active": {"type": "boolean", "description": "Active."},
            "colour": {"type": "text", "allowed": ["red", "blue"], "description": "Colour."},
        },
    }
)


def test_the_inventory_contract_comes_from_the_yaml_with_descriptions_and_drop_rules():
    assert INVENTORY.keys == ("snapshot_date", "product_id")
    assert INVENTORY.sequence_column == "snapshot_date"
    assert contract_columns(INVENTORY.contract) == [
        "snapshot_date",
        "product_id",
        "sku",
        "on_hand",
        "on_order",
        "warehouse",
    ]
    columns = {c.name: c for c in table_schema(INVENTORY.contract).columns}
    assert columns["on_hand"].description == "Units in stock."
    assert columns["on_hand"].type == "Int64"
    assert columns["warehouse"].constraints.nullable is True
    assert set(severities(INVENTORY.contract).values()) == {"drop"}


def test_text_values_are_parsed_to_their_declared_types_and_misfits_quarantined():
    contract = contract_model("every_type", EVERY_TYPE)
    raw = raw_frame(
        {
            "id": ["1", "2", "x", "4"],
            "day": ["2025-01-02", "2025-02-30", "2025-01-02", None],
            "at": ["2025-01-02T06:00:00Z", "2025-01-02T06:00:00Z", "2025-01-02T06:00:00Z", "yesterday"],
            "price": [" 12.50", "-1.00", "3", "1"],
            "share": ["0.5", "2", "0", "0"],
            "active": ["true", "FALSE", "maybe", None],
            "colour": ["red", "green", "blue", None],
        }
    )

    checked = refine(declared_transform(EVERY_TYPE), contract, raw)

    assert valid_rows(checked) == [1]
    assert rejected_rules(checked) == {
        2: [
            "colour:isin(['red', 'blue'])",
            "day:parseable",
            "price:greater_than_or_equal_to(0)",
            "share:less_than_or_equal_to(1)",
        ],
        3: ["active:parseable", "id:not_nullable", "id:parseable"],
        4: ["at:not_nullable", "at:parseable"],
    }
    assert checked.valid.row(0, named=True) | {"_ingested_at": None} == {
        "id": 1,
        "day": date(2025, 1, 2),
        "at": utc(2025, 1, 2, 6),
        "price": Decimal("12.50"),
        "share": 0.5,
        "active": True,
        "colour": "red",
        "_ingested_at": None,
        "_batch_id": "batch-1",
        "_row_number": 1,
    }


def test_a_typed_parquet_source_is_cast_and_a_column_later_files_bring_is_null_before():
    raw = raw_frame(
        {
            "snapshot_date": [date(2025, 1, 1), date(2025, 1, 1), date(2025, 1, 1)],
            "product_id": [1, None, 3],
            "sku": ["A", "B", "C"],
            "on_hand": [5, 2, -1],
            "on_order": [0, 0, 0],
        },
        schema={"product_id": pl.Int64},
    )

    checked = refine(INVENTORY.transform, INVENTORY.contract, raw)

    assert valid_rows(checked) == [1]
    assert rejected_rules(checked) == {
        2: ["product_id:not_nullable"],
        3: ["on_hand:greater_than_or_equal_to(0)"],
    }
    assert checked.valid.get_column("warehouse").to_list() == [None]


def test_text_is_trimmed_unless_its_column_says_trim_false():
    padded = InlineContract.model_validate(
        {
            "description": "Codes whose padding means something.",
            "sequence": "id",
            "columns": {
                "id": {"type": "integer", "nullable": False, "description": "Id."},
                "name": {"type": "text", "description": "Trimmed."},
                "code": {"type": "text", "trim": False, "description": "Fixed width, kept as sent."},
            },
        }
    )
    raw = raw_frame({"id": ["1", "2"], "name": ["  Ada ", "Bo"], "code": [" A1 ", "B2  "]})

    checked = refine(declared_transform(padded), contract_model("padded", padded), raw)

    assert checked.valid.select("id", "name", "code").rows() == [(1, "Ada", " A1 "), (2, "Bo", "B2  ")]


def test_trim_false_is_for_text_columns_only():
    with pytest.raises(pydantic.ValidationError, match="trim: false is for text columns, not integer"):
        ColumnRule.model_validate({"type": "integer", "trim": False, "description": "Id."})
