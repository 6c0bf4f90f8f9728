"""A table's spec derives its asset, checks and docs; a curated asset enforces its contract."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest

from lakehouse.lib.quality.contract import Contract, pii, references
from lakehouse.lib.spec import CONTRACT_CHECK, TableSpec
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec, overwrite

DIM = dg.AssetKey(["curated", "dim_thing"])


class ThingContract(Contract):
    thing_id: pl.Int64 = pa.Field(nullable=False, description="The thing.")
    email: pl.String = pa.Field(nullable=True, description="Its owner's email.")
    owner_hash: pl.String = pa.Field(nullable=True, description="Pseudonym of the owner.")
    thing_key: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="dim_thing key.", metadata=references(DIM, "thing_key")
    )


class PersonalThingContract(ThingContract):
    """The same columns, their personal data classified."""

    email: pl.String = pa.Field(nullable=True, description="Its owner's email.", metadata=pii("direct"))
    owner_hash: pl.String = pa.Field(
        nullable=True, description="Pseudonym of the owner.", metadata=pii("indirect")
    )


def spec(layer: str = "curated", contract: type[Contract] = ThingContract, **fields) -> TableSpec:
    return TableSpec(
        layer=layer, name="things", description="Things.", contract=contract, key=("thing_id",), **fields
    )


@pytest.mark.parametrize(
    ("layer", "fields", "mode", "partition"),
    [
        ("raw", {}, WriteMode.APPEND, None),
        ("refined", {"sequence": "thing_key"}, WriteMode.MERGE, None),
        ("curated", {}, WriteMode.OVERWRITE, None),
        ("curated", {"slice_by": "thing_key"}, WriteMode.OVERWRITE_PARTITION, "thing_key"),
        ("refined", {"write": overwrite()}, WriteMode.OVERWRITE, None),
    ],
)
def test_the_write_policy_is_the_layers_default_unless_the_table_states_one(layer, fields, mode, partition):
    written = WriteSpec.from_metadata(spec(layer, **fields).write_metadata())

    assert (written.mode, written.partition_column) == (mode, partition)
    if mode is WriteMode.MERGE:
        assert (written.keys, written.sequence_column) == (("thing_id",), "thing_key")


def test_foreign_keys_and_checks_derive_from_the_spec_and_its_contract():
    things = spec()

    assert things.references == {"thing_key": (DIM, "thing_key")}
    assert [check.spec.key.name for check in things.checks()] == [
        "unique_key",
        "key_not_null",
        "thing_key_in_dim_thing",
    ]


def test_pii_classified_in_the_contract_is_tagged_and_unstored_columns_are_left_out():
    things = spec(layer="refined", contract=PersonalThingContract, unstored=("email",))
    args = things.asset_args("v1")
    columns = {c.name: c.tags for c in args["metadata"]["dagster/column_schema"].columns}

    assert args["tags"] == {"layer": "refined", "pii": "indirect"}
    assert args["metadata"]["pii_columns"] == {"owner_hash": "indirect"}
    assert columns == {"thing_id": {}, "owner_hash": {"pii": "indirect"}, "thing_key": {}}
    assert [c.name for c in things.column_docs()] == ["thing_id", "owner_hash", "thing_key"]
    assert (args["key"], args["group_name"], args["code_version"]) == (
        dg.AssetKey(["refined", "things"]),
        "refined",
        "v1",
    )


def things_asset(rows: pl.DataFrame) -> dg.AssetsDefinition:
    @spec().asset(ins={})
    def things() -> pl.LazyFrame:
        return rows.lazy()

    return things


def materialise(tmp_path: Path, rows: pl.DataFrame) -> dg.ExecuteInProcessResult:
    store = DeltaStore(root=str(tmp_path))
    return dg.materialize(
        [things_asset(rows)],
        resources={"io_manager": DeltaIOManager(store=store), "store": store},
        raise_on_error=False,
    )


def contract_result(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == CONTRACT_CHECK
    return evaluation


def test_rows_keeping_the_contract_are_conformed_written_and_the_check_passes(tmp_path: Path):
    rows = pl.DataFrame(
        {"thing_key": [7, 8], "thing_id": [1, 2], "email": [None, None], "owner_hash": ["a", "b"]}
    )

    result = materialise(tmp_path, rows)

    assert result.success
    assert contract_result(result).passed
    stored = pl.read_delta(str(tmp_path / "curated" / "things"))
    assert stored.columns == ["thing_id", "email", "owner_hash", "thing_key"]  # the contract's order
    assert stored.height == 2


@pytest.mark.parametrize(
    ("thing_ids", "thing_keys", "rule"),
    [
        ([1, 2], [7, -1], "thing_key:greater_than_or_equal_to(0)"),
        ([1, 1], [7, 8], "multiple_fields_uniqueness"),
    ],
)
def test_a_row_breaking_a_rule_or_the_key_fails_the_check_and_the_asset_and_nothing_is_written(
    tmp_path: Path, thing_ids, thing_keys, rule
):
    rows = pl.DataFrame(
        {"thing_id": thing_ids, "email": [None, None], "owner_hash": ["a", "b"], "thing_key": thing_keys}
    )

    result = materialise(tmp_path, rows)

    assert not result.success
    evaluation = contract_result(result)
    assert not evaluation.passed
    error = evaluation.metadata["error"].value
    assert "curated.things" in error and rule in error
    assert "│ 1" in error  # the failing rows are shown
    assert not (tmp_path / "curated" / "things").exists()


def test_stored_direct_pii_is_named_by_the_write_spec_and_tagged_direct():
    things = spec(layer="refined", contract=PersonalThingContract)

    assert things.asset_tags()["pii"] == "direct"
    assert WriteSpec.from_metadata(things.write_metadata()).direct_pii == ("email",)


def test_a_curated_table_may_not_hold_direct_pii():
    with pytest.raises(ValueError, match=r"curated.things: a curated table holds no direct PII \(email\)"):
        spec(layer="curated", contract=PersonalThingContract)
