"""Declared sources: one `defs.yaml` each, checked when the definitions load; a mistake names the
source and the field or column. Each test loads its `defs.yaml` files as `dg` does (a scratch defs
folder scaffolded with the component types)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster.components.testing import DefsFolderSandbox, create_defs_folder_sandbox

from lakehouse.components import DatabaseTable, LandingFileSet
from lakehouse.components.declared import file_sets, refined_tables, shop_tables
from lakehouse.definitions import resources
from lakehouse.defs.curated.inventory import SNAPSHOT_COLUMNS
from lakehouse.settings import get_settings


def returns(omit: tuple[str, ...] = (), **fields: object) -> dict[str, object]:
    """A minimal CSV file set, with `fields` changed and those named in `omit` left out."""
    declared = {
        "name": "returns",
        "description": "Returns.",
        "location": "returns",
        "pattern": "*.csv",
        "format": "csv",
        "columns": ["return_id", "reason"],
        "primary_key": ["return_id"],
    } | fields
    return {field: value for field, value in declared.items() if field not in omit}


def suppliers(**fields: object) -> dict[str, object]:
    """A minimal database table, with `fields` changed."""
    return {
        "name": "suppliers",
        "description": "Suppliers.",
        "columns": {"supplier_id": "integer", "name": "text", "updated_at": "text"},
        "primary_key": ["supplier_id"],
    } | fields


def contract(sequence: str, **columns: str) -> dict[str, object]:
    """An inline contract with text `columns` (name: description)."""
    rules = {name: {"type": "text", "description": text} for name, text in columns.items()}
    return {"description": "Returned items.", "sequence": sequence, "columns": rules}


def declare(sandbox: DefsFolderSandbox, component: type[dg.Component], attributes: dict[str, object]) -> Path:
    """`dg scaffold defs <type> sources/<name>`, then the `defs.yaml` edited to `attributes`."""
    return sandbox.scaffold_component(
        component_cls=component,
        defs_path=f"sources/{attributes['name']}",
        defs_yaml_contents={"type": f"lakehouse.components.{component.__name__}", "attributes": attributes},
    )


def load(*declared: tuple[type[dg.Component], dict[str, object]]) -> dg.Definitions:
    with create_defs_folder_sandbox() as sandbox:
        for component, attributes in declared:
            declare(sandbox, component, attributes)
        with sandbox.build_all_defs() as defs:
            return defs


def problem(*declared: tuple[type[dg.Component], dict[str, object]]) -> str:
    """The messages of the error loading `declared` raises, from the outermost to its cause."""
    with pytest.raises(Exception) as raised:
        load(*declared)
    messages, error = [], raised.value
    while error is not None:
        messages.append(str(error))
        error = error.__cause__
    return "\n".join(messages)


def test_the_projects_sources_are_declared_by_components():
    assert list(file_sets()) == ["payments", "supplier_inventory"]
    assert file_sets()["supplier_inventory"].source.ready == "done_marker"
    assert list(shop_tables()) == ["customers", "order_items", "orders", "products"]
    customers = shop_tables()["customers"]
    assert (customers.keys, customers.deleted_column, customers.reconcile_keys) == (
        ("customer_id",),
        "deleted_at",
        True,
    )
    assert customers.overlap == timedelta(minutes=10)
    assert shop_tables()["order_items"].keys == ("order_id", "line_no")
    assert shop_tables()["products"].columns["unit_price"] == pl.Float64


def test_the_inventory_fact_reads_columns_its_source_declares():
    (inventory,) = [t for t in refined_tables() if t.name == "supplier_inventory"]
    assert set(SNAPSHOT_COLUMNS) <= set(inventory.output_columns)


def test_a_file_set_gets_its_tables_sensor_and_checks():
    defs = load((LandingFileSet, returns(contract=contract("return_id", return_id="Id.", reason="Why."))))
    assert {key.to_user_string() for asset in defs.assets for key in asset.keys} == {
        "raw/returns",
        "quarantine/returns_files",
        "raw/returns_file_versions",
        "refined/returns",
        "quarantine/returns",
    }
    assert [(s.name, s.minimum_interval_seconds) for s in defs.sensors] == [("returns_sensor", 30)]
    assert {
        (check.asset_key.to_user_string(), check.name)
        for checks in defs.asset_checks
        for check in checks.check_keys
        if check.name in ("reconciles_with_raw", "unique_key", "column_schema_change")
    } == {
        ("raw/returns", "column_schema_change"),
        ("quarantine/returns_files", "column_schema_change"),
        ("raw/returns_file_versions", "column_schema_change"),
        ("refined/returns", "column_schema_change"),
        ("quarantine/returns", "column_schema_change"),
        ("refined/returns", "reconciles_with_raw"),
        ("refined/returns", "unique_key"),
    }


def test_a_minimal_file_set_gets_the_defaults():
    with create_defs_folder_sandbox() as sandbox:
        path = declare(sandbox, LandingFileSet, returns())
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, _):
            assert (
                component.ready,
                component.sensor_seconds,
                component.csv.delimiter,
                component.csv.header,
            ) == (
                "on_arrival",
                30,
                ",",
                True,
            )


def test_scaffolding_names_the_source_after_its_folder_and_leaves_the_fields_to_fill_in():
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=LandingFileSet, defs_path="sources/returns")
        text = (path / "defs.yaml").read_text()
        assert "  name: returns\n" in text
        with pytest.raises(Exception) as raised, sandbox.build_all_defs():
            pass
        assert "returns: primary_key names no column" in str(raised.value.__cause__)


def test_a_misspelt_field_is_named_with_its_line():
    message = problem((LandingFileSet, returns(formt="csv")))
    assert "attributes.formt at " in message
    assert "sources/returns/defs.yaml:" in message
    assert "Extra inputs are not permitted" in message


def test_a_contract_column_the_source_does_not_declare_is_named():
    declared = returns(contract=contract("return_id", return_id="Id.", amount="Amount."))
    assert (
        "returns: contract column amount is not a column of the source; it declares return_id, reason"
        in problem((LandingFileSet, declared))
    )


def test_a_misspelt_contract_column_is_named_with_the_likely_one():
    declared = returns(contract=contract("return_id", return_id="Id.", reasn="Why."))
    assert "returns: contract column reasn is not a column of the source (did you mean reason?)" in problem(
        (LandingFileSet, declared)
    )


def test_a_misspelt_key_column_is_named():
    assert "returns: key column retrun_id is not a column of the source (did you mean return_id?)" in problem(
        (LandingFileSet, returns(primary_key=["retrun_id"]))
    )


def test_a_database_tables_contract_names_only_its_columns():
    declared = suppliers(contract=contract("supplier_id", supplier_id="Id.", nmae="Name."))
    assert "suppliers: contract column nmae is not a column of the source (did you mean name?)" in problem(
        (DatabaseTable, declared)
    )


def test_a_parquet_contract_needs_the_columns_to_check_it_against():
    declared = returns(("columns",), format="parquet", contract=contract("return_id", return_id="Id."))
    assert "returns: a contract column needs the source's `columns` to check it against" in problem(
        (LandingFileSet, declared)
    )


def test_an_optional_parquet_column_may_be_in_the_contract():
    declared = returns(
        format="parquet",
        optional_columns=["note"],
        contract=contract("return_id", return_id="Id.", note="Note."),
    )
    defs = load((LandingFileSet, declared))
    assert dg.AssetKey(["refined", "returns"]) in {key for asset in defs.assets for key in asset.keys}


def test_text_formats_need_their_columns():
    assert "returns: format csv needs `columns` (the fields to read, in file order)" in problem(
        (LandingFileSet, returns(("columns",)))
    )


def test_a_contract_must_declare_the_key_and_sequence():
    declared = returns(contract=contract("returned_on", reason="Why."))
    assert "returns: contract lacks the key/sequence column(s) return_id, returned_on" in problem(
        (LandingFileSet, declared)
    )


def test_an_unknown_column_type_lists_the_known_ones():
    declared = returns(
        contract={
            "description": "Returns.",
            "sequence": "return_id",
            "columns": {"return_id": {"type": "uuid", "description": "Id."}},
        }
    )
    message = problem((LandingFileSet, declared))
    assert "columns.return_id.type at " in message
    assert "Input should be 'text', 'integer'" in message


def test_refine_names_a_built_in_table_of_the_sources_name():
    assert "returns: refine names 'payments': a built-in refined table" in problem(
        (LandingFileSet, returns(refine="payments"))
    )


def test_a_database_table_names_its_key_watermark_and_deleted_columns():
    assert "suppliers: columns lack changed_at (named as key, watermark or deleted)" in problem(
        (DatabaseTable, suppliers(watermark="changed_at"))
    )
    assert "suppliers: reconcile_keys needs `deleted`: the column that marks a found deletion" in problem(
        (DatabaseTable, suppliers(reconcile_keys=True))
    )


def test_yaml_that_does_not_parse_is_reported_as_such():
    with create_defs_folder_sandbox() as sandbox:
        path = declare(sandbox, LandingFileSet, returns())
        (path / "defs.yaml").write_text("type: lakehouse.components.LandingFileSet\nattributes: [unclosed\n")
        with pytest.raises(Exception) as raised, sandbox.build_all_defs():
            pass
    assert "while parsing a flow sequence" in str(raised.value)


def test_database_and_file_sources_have_distinct_names(tmp_path: Path):
    table = suppliers(
        name="returns", columns={"return_id": "integer", "updated_at": "text"}, primary_key=["return_id"]
    )
    with create_defs_folder_sandbox() as sandbox:
        declare(sandbox, LandingFileSet, returns())
        sandbox.scaffold_component(
            component_cls=DatabaseTable,
            defs_path="sources/returns_table",
            defs_yaml_contents={"type": "lakehouse.components.DatabaseTable", "attributes": table},
        )
        with pytest.raises(dg.DagsterInvalidDefinitionError) as raised, sandbox.build_all_defs() as defs:
            dg.Definitions.merge(defs, resources(get_settings(tmp_path))).resolve_asset_graph()
    assert str(raised.value) == "Duplicate asset key: AssetKey(['raw', 'returns'])"


def test_a_declared_schedule_runs_its_source_and_what_depends_on_it():
    defs = load(
        (LandingFileSet, returns(schedule="0 * * * *", sensor_seconds=None)),
        (DatabaseTable, suppliers(schedule="30 5 * * *")),
    )
    assert sorted((s.name, s.cron_schedule) for s in defs.schedules) == [
        ("returns_schedule", "0 * * * *"),
        ("suppliers_schedule", "30 5 * * *"),
    ]
    assert list(defs.sensors) == []


def test_a_sensor_looks_at_most_every_five_seconds():
    assert "returns: sensor_seconds is at least 5 (or null: no sensor)" in problem(
        (LandingFileSet, returns(sensor_seconds=1))
    )


def test_a_text_field_may_read_the_environment(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_RETURNS_FOLDER", "warehouse/returns")
    with create_defs_folder_sandbox() as sandbox:
        path = declare(sandbox, LandingFileSet, returns(location="{{ env('LAKEHOUSE_RETURNS_FOLDER') }}"))
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, _):
            assert component.location == "warehouse/returns"
