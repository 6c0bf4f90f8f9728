"""Table contracts: a pandera model per table, each rule with a severity.

Severities, as in Lakeflow expectations:
- `warn`: the row is kept and the failure counted;
- `drop`: the row goes to quarantine with the names of the rules it broke;
- `fail`: the asset fails, showing the failing rows.

A contract names its rules' severities in `Config.metadata["severity"]`, keyed by check name,
with or without its arguments (`not_nullable` covers every non-nullable column, `isin` every
`isin([...])`). A rule that is not listed fails the asset; schema problems (a wrong type, a
missing column) always do.

A contract is the single source of its table's schema: the column order and types written to
Delta (`conform`), the Dagster column schema with each column's description (`table_schema`), the
rules checked before a write, and the foreign keys (a field's `references`, see `references`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

import dagster as dg
import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from lakehouse.settings import get_settings

# A field's metadata entry naming the table column it references: "layer/table.column".
REFERENCES = "references"


class Severity(StrEnum):
    WARN = "warn"
    DROP = "drop"
    FAIL = "fail"


class Contract(pa.DataFrameModel):
    """Base of every table contract. Extra (lineage) columns are allowed and not checked."""

    class Config:
        strict = False
        metadata: dict = {"severity": {}}


def severities(contract: type[Contract]) -> dict[str, Severity]:
    declared = (getattr(contract.Config, "metadata", None) or {}).get("severity", {})
    return {check: Severity(level) for check, level in declared.items()}


def contract_columns(contract: type[Contract]) -> list[str]:
    return list(contract.to_schema().columns)


def contract_keys(contract: type[Contract]) -> list[str]:
    """The table's key: the columns the contract declares unique together."""
    unique = getattr(contract.Config, "unique", None)
    if not unique:
        raise ValueError(f"{contract.__name__} declares no key (Config.unique)")
    return [unique] if isinstance(unique, str) else list(unique)


def contract_types(contract: type[Contract]) -> dict[str, pl.DataType]:
    return {name: column.dtype.type for name, column in contract.to_schema().columns.items()}


def table_schema(
    contract: type[Contract],
    exclude: Sequence[str] = (),
    column_tags: dict[str, dict[str, str]] | None = None,
) -> dg.TableSchema:
    """The Dagster column schema of a contract: names, types, descriptions, constraints, and the
    `column_tags` given (e.g. which columns are PII)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=str(column.dtype.type),
                description=column.description,
                constraints=dg.TableColumnConstraints(nullable=column.nullable, unique=column.unique),
                tags=(column_tags or {}).get(name),
            )
            for name, column in contract.to_schema().columns.items()
            if name not in exclude
        ]
    )


def references(table: dg.AssetKey, column: str) -> dict[str, str]:
    """A field's metadata declaring a foreign key: `pa.Field(..., metadata=references(DIM, "key"))`."""
    return {REFERENCES: f"{table.to_user_string()}.{column}"}


def contract_references(contract: type[Contract]) -> dict[str, tuple[dg.AssetKey, str]]:
    """The foreign keys the contract declares: column -> (referenced table, its column)."""
    found = {}
    for name, column in contract.to_schema().columns.items():
        target = (column.metadata or {}).get(REFERENCES)
        if target is not None:
            table, _, referenced = target.rpartition(".")
            found[name] = (dg.AssetKey.from_user_string(table), referenced)
    return found


@functools.cache
def keyed(contract: type[Contract], key: tuple[str, ...]) -> type[Contract]:
    """The contract with `key` declared unique: what a write of the table's rows must satisfy."""
    config = type("Config", (contract.Config,), {"unique": list(key)})
    return type(contract.__name__, (contract,), {"Config": config, "__module__": contract.__module__})


def conform(frame: pl.DataFrame, contract: type[Contract], table: str) -> pl.DataFrame:
    """The frame with exactly the contract's columns, in its order and types.

    A missing column or a value that does not fit its type is a clear error naming the table.
    """
    types = contract_types(contract)
    missing = [c for c in types if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: output lacks contract column(s) {', '.join(missing)}")
    try:
        return frame.select(pl.col(name).cast(dtype, strict=True) for name, dtype in types.items())
    except pl.exceptions.InvalidOperationError as error:
        raise ValueError(f"{table}: output does not fit the contract's column types ({error})") from error


PLAUSIBLE_TIME = "plausible_time"


def plausible_times(*columns: str) -> classmethod:
    """A contract check (`<column>:plausible_time`): each of `columns`, when set, lies in the
    plausible window of the settings (`Settings.plausible_window`, read when rows are validated).
    Declare it in a contract as `plausible = plausible_times("order_at")`, severity `drop`."""

    def plausible_time(cls, data: PolarsData) -> pl.LazyFrame:
        earliest, latest = get_settings().plausible_window()
        column = pl.col(data.key)
        return data.lazyframe.select(column.is_null() | column.is_between(earliest, latest))

    return pa.check(*columns, name=PLAUSIBLE_TIME)(plausible_time)


# Column types shared by the contracts.
UtcTimestamp = Annotated[pl.Datetime, "us", "UTC"]
Money = Annotated[pl.Decimal, 18, 2]
MoneyTotal = Annotated[pl.Decimal, 38, 2]
Rate = Annotated[pl.Decimal, 18, 6]


# Bookkeeping fields shared by the curated contracts. Their columns start with `_`, so they are
# declared by alias (pandera treats attributes starting with `_` as private).
def refined_at(what: str, column: str = "_refined_at") -> object:
    return pa.Field(
        nullable=True, alias=column, description=f"When the {what} was last refined (incremental watermark)."
    )


def watermark(what: str, column: str) -> object:
    return pa.Field(nullable=True, alias=column, description=f"Newest {what} included (rebuild watermark).")


def built_at() -> object:
    return pa.Field(nullable=False, alias="_built_at", description="When this row was built.")
