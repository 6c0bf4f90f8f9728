"""Validate once, split once: severities decide whether a failing row is kept, dropped or fatal."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
import pytest
from pandera.api.polars.types import PolarsData

from lakehouse.lib.quality.contract import (
    Contract,
    Severity,
    conform,
    contract_columns,
    contract_keys,
    severities,
)
from lakehouse.lib.quality.validation import RULES, ContractViolationError, enforce, validate


class ScoreContract(Contract):
    """Drop null ids and big ids; warn on negative scores."""

    id: pl.Int64 = pa.Field(nullable=False)
    score: pl.Int64 = pa.Field(nullable=True, ge=0)

    @pa.check("id", name="small_id")
    def small_id(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) < 100)

    @pa.check("score", name="even_score")
    def even_score(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) % 2 == 0)

    class Config(Contract.Config):
        metadata = {
            "severity": {
                "not_nullable": "drop",
                "small_id": "drop",
                "even_score": "drop",
                "greater_than_or_equal_to(0)": "warn",
            }
        }


class StrictContract(Contract):
    """`small_id` is fatal: any id of 100 or more stops the asset."""

    id: pl.Int64 = pa.Field(nullable=False)

    @pa.check("id", name="small_id")
    def small_id(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) < 100)

    class Config(Contract.Config):
        metadata = {"severity": {"not_nullable": "drop", "small_id": "fail"}}


def frame(ids: list, scores: list) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": ids, "score": scores, "_row_number": list(range(1, len(ids) + 1))},
        schema={"id": pl.Int64, "score": pl.Int64, "_row_number": pl.Int64},
    )


def test_clean_frame_is_all_valid_with_no_failures():
    checked = validate(frame([1, 2], [2, 4]), ScoreContract, "t")

    assert checked.valid.equals(frame([1, 2], [2, 4]))
    assert checked.rejected.height == 0
    assert RULES in checked.rejected.columns
    assert (checked.rule_failures, checked.warnings) == ({}, {})


def test_drop_rules_reject_rows_and_list_every_rule_a_row_broke():
    checked = validate(frame([1, 200, None, 3], [2, 3, 4, 6]), ScoreContract, "t")

    assert checked.valid.get_column("_row_number").to_list() == [1, 4]
    rejected = dict(checked.rejected.select("_row_number", RULES).iter_rows())
    assert rejected == {2: ["id:small_id", "score:even_score"], 3: ["id:not_nullable"]}
    assert checked.rule_failures == {"id:not_nullable": 1, "id:small_id": 1, "score:even_score": 1}


def test_warn_rules_keep_the_row_and_count_it():
    checked = validate(frame([1, 2, 3], [-2, -4, 6]), ScoreContract, "t")

    assert checked.valid.get_column("_row_number").to_list() == [1, 2, 3]
    assert checked.rejected.height == 0
    assert checked.warnings == {"score:greater_than_or_equal_to(0)": 2}
    assert checked.rule_failures == {"score:greater_than_or_equal_to(0)": 2}


def test_a_row_breaking_a_warn_and_a_drop_rule_is_dropped_and_both_are_counted():
    checked = validate(frame([1, 2], [-3, 2]), ScoreContract, "t")

    assert dict(checked.rejected.select("_row_number", RULES).iter_rows()) == {1: ["score:even_score"]}
    assert checked.warnings == {"score:greater_than_or_equal_to(0)": 1}
    assert checked.rule_failures == {"score:even_score": 1, "score:greater_than_or_equal_to(0)": 1}


def test_fail_rule_raises_naming_the_table_and_the_rule():
    with pytest.raises(ContractViolationError) as error:
        validate(frame([1, 150], [0, 0]), StrictContract, "refined.scores")

    message = str(error.value)
    assert message.startswith("refined.scores: contract rule(s) id:small_id failed (severity fail)")
    assert "150" in message


def test_a_rule_without_a_declared_severity_is_fatal():
    class Undeclared(Contract):
        id: pl.Int64 = pa.Field(nullable=False, le=10)

        class Config(Contract.Config):
            metadata = {"severity": {"not_nullable": "drop"}}

    with pytest.raises(
        ContractViolationError, match=r"^t: contract rule\(s\) id:less_than_or_equal_to\(10\)"
    ):
        validate(frame([1, 11], [0, 0]), Undeclared, "t")


def test_a_missing_column_is_a_schema_failure_and_always_fatal():
    with pytest.raises(
        ContractViolationError, match=r"^refined\.scores: contract rule\(s\) column_in_dataframe failed"
    ):
        validate(pl.DataFrame({"id": [1]}, schema={"id": pl.Int64}), ScoreContract, "refined.scores")


def test_a_wrong_column_type_is_fatal():
    wrong = pl.DataFrame({"id": ["1"], "score": [2]})
    with pytest.raises(ContractViolationError) as error:
        validate(wrong, ScoreContract, "t")
    assert "id:dtype('Int64')" in str(error.value).splitlines()[0]


def test_severities_and_columns_come_from_the_contract():
    assert severities(StrictContract) == {"not_nullable": Severity.DROP, "small_id": Severity.FAIL}
    assert contract_columns(ScoreContract) == ["id", "score"]


def test_enforce_conforms_column_order_and_types_to_the_contract():
    out_of_order = pl.DataFrame({"extra": ["x"], "score": [4], "id": [1]}, schema_overrides={"id": pl.Int32})

    conformed = enforce(out_of_order, StrictContract, "curated.scores")

    assert conformed.schema == pl.Schema({"id": pl.Int64})
    assert conformed.rows() == [(1,)]


def test_enforce_stops_on_any_broken_rule_even_a_drop_rule_showing_the_rows():
    with pytest.raises(ContractViolationError) as error:
        enforce(frame([1, None, 7], [2, 2, 2]), ScoreContract, "curated.scores")

    message = str(error.value)
    assert message.startswith("curated.scores: 1 row(s) break contract rule(s) id:not_nullable")


def test_conform_names_the_table_and_the_missing_column():
    with pytest.raises(ValueError, match=r"^curated\.scores: output lacks contract column\(s\) score$"):
        conform(pl.DataFrame({"id": [1]}), ScoreContract, "curated.scores")


def test_conform_refuses_a_value_that_does_not_fit_its_type():
    with pytest.raises(
        ValueError, match=r"^curated\.scores: output does not fit the contract's column types"
    ):
        conform(pl.DataFrame({"id": ["seven"]}), StrictContract, "curated.scores")


def test_a_key_declared_unique_by_the_contract_is_enforced_on_write():
    class Keyed(Contract):
        id: pl.Int64 = pa.Field(nullable=False)
        line: pl.Int64 = pa.Field(nullable=False)

        class Config(Contract.Config):
            unique = ["id", "line"]

    assert contract_keys(Keyed) == ["id", "line"]
    enforce(pl.DataFrame({"id": [1, 1], "line": [1, 2]}), Keyed, "curated.t")
    with pytest.raises(
        ContractViolationError, match=r"^curated\.t: contract rule\(s\) multiple_fields_uniqueness"
    ):
        enforce(pl.DataFrame({"id": [1, 1], "line": [1, 1]}), Keyed, "curated.t")


def test_a_contract_without_a_key_cannot_serve_key_checks():
    with pytest.raises(ValueError, match="StrictContract declares no key"):
        contract_keys(StrictContract)
