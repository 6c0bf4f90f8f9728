"""sources.yaml: declarations are checked when they load, and a mistake names the source and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from lakehouse.defs.orchestration.schedules import declared_schedules
from lakehouse.sources.declared import SOURCES_FILE, SourcesFileError, load_declarations
from lakehouse.sources.shop_tables import SHOP_TABLES

FILE_SET = """
files:
  returns:
    description: Returns.
    location: returns
    pattern: "*.csv"
    format: csv
    columns: [return_id]
    primary_key: [return_id]
"""


def declare(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


def problem(tmp_path: Path, text: str) -> str:
    with pytest.raises(SourcesFileError) as error:
        load_declarations(declare(tmp_path, text))
    return str(error.value).removeprefix(f"{tmp_path / 'sources.yaml'}: ")


def test_the_projects_declarations_load():
    declarations = load_declarations(SOURCES_FILE)
    assert sorted(declarations.files) == ["payments", "supplier_inventory"]
    assert declarations.files["supplier_inventory"].ready == "done_marker"


def test_a_minimal_file_set_gets_the_defaults(tmp_path):
    returns = load_declarations(declare(tmp_path, FILE_SET)).files["returns"]
    assert (returns.ready, returns.sensor_seconds, returns.csv.delimiter, returns.csv.header) == (
        "on_arrival",
        30,
        ",",
        True,
    )


def test_a_misspelt_field_is_named(tmp_path):
    assert (
        problem(tmp_path, FILE_SET + "    formt: csv\n")
        == "files.returns.formt: Extra inputs are not permitted"
    )


def test_text_formats_need_their_columns(tmp_path):
    text = FILE_SET.replace("    columns: [return_id]\n", "")
    assert problem(tmp_path, text) == (
        "files.returns: Value error, format csv needs `columns` (the fields to read, in file order)"
    )


def test_a_contract_must_declare_the_key_and_sequence(tmp_path):
    text = FILE_SET + (
        "    contract:\n"
        "      description: Returns.\n"
        "      sequence: returned_on\n"
        "      columns:\n"
        "        reason: {type: text, description: Why.}\n"
    )
    assert problem(tmp_path, text) == (
        "files.returns: Value error, contract lacks the key/sequence column(s) return_id, returned_on"
    )


def test_an_unknown_column_type_lists_the_known_ones(tmp_path):
    text = FILE_SET + (
        "    contract:\n"
        "      description: Returns.\n"
        "      sequence: return_id\n"
        "      columns:\n"
        "        return_id: {type: uuid, description: Id.}\n"
    )
    assert problem(tmp_path, text).startswith(
        "files.returns.contract.columns.return_id.type: Input should be 'text'"
    )


def test_a_database_table_names_its_key_watermark_and_deleted_columns(tmp_path):
    text = (
        "database_tables:\n"
        "  suppliers:\n"
        "    description: Suppliers.\n"
        "    columns: {supplier_id: integer, changed_at: text}\n"
        "    primary_key: [supplier_id]\n"
        "    watermark: changed_at\n"
        "    reconcile_keys: true\n"
    )
    assert problem(tmp_path, text) == (
        "database_tables.suppliers: Value error, reconcile_keys needs `deleted`: the column that marks a "
        "found deletion"
    )


def test_yaml_that_does_not_parse_is_reported_as_such(tmp_path):
    assert problem(tmp_path, "files: [unclosed").startswith("not valid YAML (")


def test_database_and_file_sources_have_distinct_names(tmp_path):
    text = FILE_SET + (
        "database_tables:\n"
        "  returns:\n"
        "    description: Returns.\n"
        "    columns: {return_id: integer, updated_at: text}\n"
        "    primary_key: [return_id]\n"
    )
    assert problem(tmp_path, text) == "Value error, returns: declared both as a database table and as files"


def test_the_shop_tables_are_declared_like_every_other_source():
    declared = load_declarations(SOURCES_FILE).database_tables
    assert list(SHOP_TABLES) == list(declared) == ["customers", "products", "orders", "order_items"]
    customers = SHOP_TABLES["customers"]
    assert (customers.keys, customers.deleted_column, customers.reconcile_keys) == (
        ("customer_id",),
        "deleted_at",
        True,
    )
    assert customers.overlap == timedelta(minutes=10)
    assert SHOP_TABLES["order_items"].keys == ("order_id", "line_no")
    assert SHOP_TABLES["products"].columns["unit_price"] == pl.Float64


def test_a_declared_schedule_runs_its_source_and_what_depends_on_it(tmp_path):
    text = (
        FILE_SET
        + "    schedule: '0 * * * *'\n"
        + (
            "database_tables:\n"
            "  suppliers:\n"
            "    description: Suppliers.\n"
            "    columns: {supplier_id: integer, updated_at: text}\n"
            "    primary_key: [supplier_id]\n"
            "    schedule: '30 5 * * *'\n"
        )
    )
    schedules = declared_schedules(load_declarations(declare(tmp_path, text)))
    assert [(s.name, s.cron_schedule) for s in schedules] == [
        ("suppliers_schedule", "30 5 * * *"),
        ("returns_schedule", "0 * * * *"),
    ]
