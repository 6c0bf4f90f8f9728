"""The curated contracts are the single source of each curated table's schema and column docs."""

from __future__ import annotations

import polars as pl
import pytest
from lakehouse.defs.curated.assets import curated_assets
from lakehouse.defs.curated.contracts import FactOrderItemsContract, describing

from lakehouse.lib.quality.contract import contract_types
from lakehouse.lib.storage.scd2 import CHANGES


@pytest.mark.parametrize("asset", curated_assets, ids=lambda a: a.key.path[-1])
def test_every_curated_table_is_stored_exactly_as_its_contract_declares(asset, any_lakehouse):
    contract = describing(asset.metadata_by_key[asset.key])
    stored = pl.scan_delta(str(any_lakehouse.settings.tables_dir.joinpath(*asset.key.path)))

    # an scd2 dimension's versions also keep the change events they were built from
    assert dict(stored.drop(CHANGES, strict=False).collect_schema()) == contract_types(contract)


@pytest.mark.parametrize("asset", curated_assets, ids=lambda a: a.key.path[-1])
def test_every_curated_column_is_described_in_the_ui(asset):
    schema = asset.metadata_by_key[asset.key]["dagster/column_schema"]
    contract = describing(asset.metadata_by_key[asset.key])

    assert [c.name for c in schema.columns] == list(contract_types(contract))
    assert all(c.description for c in schema.columns)


def test_the_fact_keeps_its_contract_rules():
    schema = FactOrderItemsContract.to_schema()

    assert [str(check) for check in schema.columns["quantity"].checks] == [
        "<Check greater_than: greater_than(0)>"
    ]
    assert schema.columns["order_id"].nullable is False
