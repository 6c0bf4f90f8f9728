"""A contract judged in one pass lists exactly the failure cases pandera lists, in its order."""

from __future__ import annotations

from datetime import UTC, datetime

import pandera.polars as pa
import polars as pl
import pytest
from pandera.api.polars.types import PolarsData

from lakehouse.defs.refined.events import EventContract
from lakehouse.defs.refined.exchange_rates import ExchangeRateContract
from lakehouse.lib.quality import failures
from lakehouse.lib.quality.contract import Contract, keyed


class Rules(Contract):
    """One of each kind of rule: not-null, unique, built-in checks, a custom check, a float."""

    id: pl.Int64 = pa.Field(nullable=False, unique=True, lt=100)
    score: pl.Float64 = pa.Field(nullable=False, in_range={"min_value": 0, "max_value": 10})
    kind: pl.String = pa.Field(nullable=True, isin=["a", "b"])

    @pa.check("kind", name="not_c", ignore_na=False)
    def not_c(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col(data.key) != "c")


def rows(ids: list, scores: list, kinds: list) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": ids, "score": scores, "kind": kinds},
        schema={"id": pl.Int64, "score": pl.Float64, "kind": pl.String},
    )


def judged_both_ways(
    frame: pl.DataFrame, contract: type[Contract], monkeypatch: pytest.MonkeyPatch, by_pandera: bool = False
) -> pl.DataFrame:
    """The failure cases, asserted equal to pandera's, and found in one pass unless `by_pandera`."""
    expected = failures._by_pandera(frame, contract)
    asked = []
    monkeypatch.setattr(failures, "_by_pandera", lambda *args: asked.append(args) or expected)
    found = failures.failure_cases(frame, contract)
    assert found.equals(expected)
    assert bool(asked) == by_pandera
    return found


def test_a_clean_frame_fails_nothing(monkeypatch):
    assert judged_both_ways(rows([1, 2], [0.5, 10.0], ["a", "b"]), Rules, monkeypatch).height == 0


def test_every_kind_of_rule_lists_its_failing_rows_as_pandera_does(monkeypatch):
    frame = rows([1, 1, None, 200], [float("nan"), 11.0, 3.0, None], ["a", "x", "c", None])

    found = judged_both_ways(frame, Rules, monkeypatch)

    assert found.select("column", "check", "_position", "failure_case").rows() == [
        ("id", "not_nullable", 2, None),
        ("id", "field_uniqueness", 0, "1"),
        ("id", "field_uniqueness", 1, "1"),
        ("id", "less_than(100)", 3, "200"),
        ("score", "not_nullable", 0, "NaN"),  # pandera counts NaN as missing
        ("score", "not_nullable", 3, None),
        ("score", "in_range(0, 10)", 0, "NaN"),
        ("score", "in_range(0, 10)", 1, "11.0"),
        ("kind", "isin(['a', 'b'])", 1, "x"),
        ("kind", "isin(['a', 'b'])", 2, "c"),  # a null passes a check, unless ignore_na=False
        ("kind", "not_c", 2, "c"),
        ("kind", "not_c", 3, None),
    ]


def test_values_are_listed_as_text_and_checks_may_read_other_columns(monkeypatch):
    frame = pl.DataFrame(
        {
            "date": [datetime(2025, 1, 1, tzinfo=UTC).date()] * 3,
            "currency": ["USD", "EUR", "XXX"],
            "usd_rate": ["1.5", "1.12345", "0"],
            "extra": [1, 2, 3],
        }
    ).with_columns(pl.col("usd_rate").str.to_decimal(scale=6).cast(pl.Decimal(18, 6)))

    found = judged_both_ways(frame, ExchangeRateContract, monkeypatch)

    assert found.select("check", "failure_case", "_position").rows() == [
        ("isin(['USD', 'EUR', 'GBP', 'CAD', 'AUD'])", "XXX", 2),
        ("greater_than(0)", "0.000000", 2),
        ("four_decimals", "1.123450", 1),
        ("usd_is_one", "1.500000", 0),
    ]


def test_a_declared_key_that_holds_is_judged_in_the_one_pass(monkeypatch):
    frame = rows([1, 2, 3], [1.0, 2.0, 3.0], ["a", "b", "b"])
    assert judged_both_ways(frame, keyed(Rules, ("kind", "score")), monkeypatch).height == 0


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(rows([1], [1.0], ["a"]).drop("kind"), id="missing column"),
        pytest.param(rows([1], [1.0], ["a"]).with_columns(pl.col("id").cast(pl.Int32)), id="wrong type"),
        pytest.param(rows([1, 2], [1.0, 1.0], ["a", "a"]), id="key duplicated"),
    ],
)
def test_what_the_one_pass_cannot_tell_pandera_reports(frame, monkeypatch):
    found = judged_both_ways(frame, keyed(Rules, ("kind", "score")), monkeypatch, by_pandera=True)
    assert found.height


def test_a_check_that_raises_is_reported_by_pandera(monkeypatch):
    # within_lateness reads the high-water column, which this frame lacks
    columns = EventContract.to_schema().columns
    frame = pl.DataFrame({name: pl.Series([], dtype=column.dtype.type) for name, column in columns.items()})
    found = judged_both_ways(frame, EventContract, monkeypatch, by_pandera=True)
    assert found.get_column("check").to_list() == ["within_lateness"]
