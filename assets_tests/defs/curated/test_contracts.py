"""Each curated table's spec and contract are the single source of its schema, docs, key and checks."""

from __future__ import annotations

import polars as pl
import pytest

from lakehouse.definitions import default_definitions
from lakehouse.defs.curated.dictionary import curated_specs
from lakehouse.defs.curated.facts import FactOrderItemsContract, fact_order_items
from lakehouse.lib.quality.contract import contract_types
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage.scd2 import CHANGES

defs = default_definitions()


@pytest.mark.parametrize("spec", curated_specs(), ids=lambda s: s.name)
def test_every_curated_table_is_stored_exactly_as_its_contract_declares(spec: TableSpec, any_lakehouse):
    stored = pl.scan_delta(str(any_lakehouse.settings.tables_dir.joinpath(*spec.asset_key.path)))

    # an scd2 dimension's versions also keep the change events they were built from
    assert dict(stored.drop(CHANGES, strict=False).collect_schema()) == contract_types(spec.contract)


@pytest.mark.parametrize("spec", curated_specs(), ids=lambda s: s.name)
def test_every_curated_column_is_described_in_the_ui(spec: TableSpec):
    asset = defs.resolve_assets_def(spec.asset_key)
    schema = asset.metadata_by_key[spec.asset_key]["dagster/column_schema"]

    assert [c.name for c in schema.columns] == list(contract_types(spec.contract))
    assert all(c.description for c in schema.columns)
    assert asset.descriptions_by_key[spec.asset_key] == spec.description


@pytest.mark.parametrize("spec", curated_specs(), ids=lambda s: s.name)
def test_every_curated_table_has_its_key_and_contract_checks(spec: TableSpec):
    checks = {
        key.name for key in defs.resolve_asset_graph().asset_check_keys if key.asset_key == spec.asset_key
    }

    assert {"unique_key", "key_not_null", "contract"} <= checks


def test_foreign_key_checks_come_from_the_contracts_references():
    checks = {
        key.name
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key == fact_order_items.key
        and key.name.endswith(("_in_dim_customer", "_in_dim_product", "_in_dim_date"))
    }

    assert checks == {
        "customer_key_in_dim_customer",
        "product_key_in_dim_product",
        "order_date_key_in_dim_date",
    }


def test_the_fact_keeps_its_contract_rules():
    schema = FactOrderItemsContract.to_schema()

    assert [str(check) for check in schema.columns["quantity"].checks] == [
        "<Check greater_than: greater_than(0)>"
    ]
    assert schema.columns["order_id"].nullable is False
