"""Table contracts: a pandera model per table, each rule with a severity.

Severities, as in Lakeflow expectations:
- `warn`: the row is kept and the failure counted;
- `drop`: the row goes to quarantine with the names of the rules it broke;
- `fail`: the asset fails, showing the failing rows.

A contract names its rules' severities in `Config.metadata["severity"]`, keyed by check name,
with or without its arguments (`not_nullable` covers every non-nullable column, `isin` every
`isin([...])`). A rule that is not listed fails the asset; schema problems (a wrong type, a
missing column) always do.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import pandera.polars as pa
import polars as pl


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


# Column types shared by the contracts.
UtcTimestamp = Annotated[pl.Datetime, "us", "UTC"]
Money = Annotated[pl.Decimal, 18, 2]
Rate = Annotated[pl.Decimal, 18, 6]
