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
Delta (`conform`), the Dagster column schema with each column's description (`table_schema`), and
the rules checked before a write.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Annotated

import dagster as dg
import pandera.polars as pa
import polars as pl

# Definition metadata naming the contract that every write of the asset must satisfy.
CONTRACT_KEY = "lakehouse/contract"


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


def table_schema(contract: type[Contract], exclude: tuple[str, ...] = ()) -> dg.TableSchema:
    """The Dagster column schema of a contract: names, types, descriptions, constraints."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=str(column.dtype.type),
                description=column.description,
                constraints=dg.TableColumnConstraints(nullable=column.nullable, unique=column.unique),
            )
            for name, column in contract.to_schema().columns.items()
            if name not in exclude
        ]
    )


def enforced(contract: type[Contract]) -> dict[str, object]:
    """Definition metadata of an asset whose every write must satisfy `contract` (see `conform`)."""
    return {
        CONTRACT_KEY: f"{contract.__module__}:{contract.__qualname__}",
        "dagster/column_schema": table_schema(contract),
    }


def contract_named(path: str) -> type[Contract]:
    """The contract class behind an `enforced` metadata entry (`module:Class`)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


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


# Column types shared by the contracts.
UtcTimestamp = Annotated[pl.Datetime, "us", "UTC"]
Money = Annotated[pl.Decimal, 18, 2]
Rate = Annotated[pl.Decimal, 18, 6]
