"""Refined tables declared with a source: a pandera contract and a typed transform built from its YAML.

The inline contract's columns become a pandera model (types, nullability, `min`/`max`, `allowed`
values, descriptions), and the transform casts each raw column to its declared type: text is
trimmed (unless its column says `trim: false`), timestamps are read as ISO 8601 UTC, other text
values are cast without guessing. A value
that does not fit its type becomes null and the row is quarantined (`<column>:parseable`); every
rule a declared table breaks drops the row to quarantine, none fails the asset.
"""

import pandera.polars as pa
import polars as pl

from lakehouse.defs.refined.refine import RefinedTable, TransformContext
from lakehouse.lib.cleansing import money_text, trimmed, utc_from_zulu
from lakehouse.lib.columns import RAW_LINEAGE
from lakehouse.lib.quality.contract import Contract, Money, UtcTimestamp, plausible_times
from lakehouse.sources.declared import ColumnRule, InlineContract, Source

# Pandera column annotations by declared type.
_ANNOTATIONS = {
    "text": pl.String,
    "integer": pl.Int64,
    "decimal": Money,
    "float": pl.Float64,
    "date": pl.Date,
    "timestamp": UtcTimestamp,
    "boolean": pl.Boolean,
}
_BOOLEANS = {"true": True, "false": False}
# Every rule of a declared contract quarantines the row (by pandera's check names).
_SEVERITIES = {
    "not_nullable": "drop",
    "greater_than_or_equal_to": "drop",
    "less_than_or_equal_to": "drop",
    "isin": "drop",
    "plausible_time": "drop",
}


def contract_model(name: str, contract: InlineContract) -> type[Contract]:
    """A pandera model with the declared columns, as if written by hand in Python."""
    attributes: dict[str, object] = {
        "__annotations__": {column: _ANNOTATIONS[rule.type] for column, rule in contract.columns.items()},
        "__module__": __name__,
        "__doc__": contract.description,
        "Config": type("Config", (Contract.Config,), {"metadata": {"severity": _SEVERITIES}}),
    }
    attributes |= {column: _field(rule) for column, rule in contract.columns.items()}
    timestamps = [column for column, rule in contract.columns.items() if rule.type == "timestamp"]
    if timestamps:  # a business time outside the plausible window is a defect: quarantined
        attributes["plausible"] = plausible_times(*timestamps)
    class_name = "".join(part.title() for part in name.split("_")) + "Contract"
    return type(class_name, (Contract,), attributes)


def _field(rule: ColumnRule) -> object:
    return pa.Field(
        nullable=rule.nullable,
        ge=rule.min,
        le=rule.max,
        isin=list(rule.allowed) if rule.allowed else None,
        description=rule.description,
    )


def typed(column: str, rule: ColumnRule, source_type: pl.DataType) -> pl.Expr:
    """The raw column as its declared type; text that does not fit becomes null."""
    if rule.type == "text":
        return trimmed(column) if rule.trim else pl.col(column)
    if source_type != pl.String:  # a typed source (Parquet) is cast, not parsed
        return pl.col(column).cast(rule.dtype, strict=False).alias(column)
    text = pl.col(column).str.strip_chars()
    parsers = {
        "timestamp": utc_from_zulu(column),
        "decimal": money_text(column),
        "date": text.str.to_date("%Y-%m-%d", strict=False),
        "boolean": text.str.to_lowercase().replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean),
    }
    return parsers.get(rule.type, text.cast(rule.dtype, strict=False)).alias(column)


def declared_transform(contract: InlineContract):
    """The row-wise transform of a declared table: each declared column typed, lineage kept.

    A declared column the raw table does not have yet (a column that only later files carry) is null.
    """

    def transform(raw: pl.LazyFrame, context: TransformContext) -> pl.LazyFrame:
        schema = raw.collect_schema()
        return raw.select(
            *(
                typed(column, rule, schema[column])
                if column in schema
                else pl.lit(None, rule.dtype).alias(column)
                for column, rule in contract.columns.items()
            ),
            *RAW_LINEAGE,
        )

    return transform


def declared_refined_table(source: Source) -> RefinedTable:
    """The refined table a source declares with its inline `contract`."""
    contract = source.contract
    assert contract is not None, f"{source.name} declares no contract"
    return RefinedTable(
        name=source.name,
        keys=tuple(source.primary_key),
        contract=contract_model(source.name, contract),
        transform=declared_transform(contract),
        description=contract.description,
        sequence_column=contract.sequence,
    )
