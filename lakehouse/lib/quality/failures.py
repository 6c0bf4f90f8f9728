"""The rows a contract's rules fail, as pandera reports them, judged in one pass of Polars.

pandera's Polars backend collects once or twice per column rule, and the whole frame once more:
about 460 of the 770 collects of a tiny incremental build, a fixed cost every refined and curated
write pays. A plain contract (every column present, of its type, no coercion, no strictness, no
frame-wide checks: all of ours) is judged here as one select and one collect. Its failure cases
are built in pandera's shape and order (schema_context, column, check, failure_case, row
position), so the rules, counts and error messages built from them stay exactly the same.

Everything else goes to pandera, which reports it as before: a schema problem (a missing column,
a wrong type), duplicates of the declared key, a rule that raises or judges the frame as a whole,
or pandera configured to validate otherwise (`PANDERA_VALIDATION_*`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl
from pandera.api.checks import Check
from pandera.api.polars.types import PolarsData
from pandera.api.polars.utils import get_validation_depth
from pandera.backends.polars.checks import PolarsCheckBackend
from pandera.backends.polars.container import DataFrameSchemaBackend
from pandera.config import ValidationDepth, get_config_context
from pandera.constants import CHECK_OUTPUT_KEY

POSITION = "_position"
FAILURE_SCHEMA = pl.Schema(
    {
        "schema_context": pl.String,
        "column": pl.String,
        "check": pl.String,
        "failure_case": pl.String,
        POSITION: pl.UInt32,
    }
)
# pandera's names for its two built-in column rules.
NOT_NULLABLE, FIELD_UNIQUENESS = "not_nullable", "field_uniqueness"
_NESTED = (pl.List, pl.Array, pl.Struct)


@dataclass(frozen=True)
class _Rule:
    """One column rule: pandera's name for it and the expression of the rows that pass it."""

    column: str
    check: str
    passes: pl.LazyFrame  # one boolean column, a row per row of the frame


def failure_cases(frame: pl.DataFrame, contract: type[pa.DataFrameModel]) -> pl.DataFrame:
    """Every (rule, row) that fails, with the failing value: pandera's `failure_cases`."""
    schema = contract.to_schema()
    rules = _rules(frame, schema) if _plain(frame, schema) else None
    judged = _judge(frame, schema, rules) if rules is not None else None
    return judged if judged is not None else _by_pandera(frame, contract)


def _plain(frame: pl.DataFrame, schema: pa.DataFrameSchema) -> bool:
    """Whether pandera would only run column rules over the frame as it is, all data checked."""
    config = get_config_context()
    if not config.validation_enabled or get_validation_depth(frame) != ValidationDepth.SCHEMA_AND_DATA:
        return False
    if type(schema.get_backend(frame)) is not DataFrameSchemaBackend:  # e.g. the Narwhals backend
        return False
    if schema.coerce or schema.strict or schema.ordered or schema.add_missing_columns:
        return False
    if schema.checks or schema.parsers or schema.dtype is not None or schema.drop_invalid_rows:
        return False
    if schema.unique and not all(isinstance(c, str) for c in schema.unique):
        return False
    return all(_plain_column(frame, column) for column in schema.columns.values())


def _plain_column(frame: pl.DataFrame, column: pa.Column) -> bool:
    """Present, of its declared type (pandera's own test), and with nothing but row rules."""
    if column.regex or column.coerce or column.default is not None or column.parsers:
        return False
    if column.drop_invalid_rows or column.name not in frame.columns or column.dtype is None:
        return False
    dtype = frame.schema[column.name]
    if isinstance(dtype, _NESTED) or not column.dtype.check(dtype, PolarsData(frame.lazy(), column.name)):
        return False
    return all(_plain_check(check) for check in column.checks)


def _plain_check(check: Check) -> bool:
    return not check.raise_warning and check.n_failure_cases is None and not check.element_wise


def _rules(frame: pl.DataFrame, schema: pa.DataFrameSchema) -> list[_Rule] | None:
    """The column rules in pandera's order: per column not-null, unique, then its checks.

    None when a check cannot be judged here (it raises, or judges the frame as one value).
    """
    lazy = frame.lazy()
    rules = []
    for name, column in schema.columns.items():
        if not column.nullable:
            present = pl.col(name).is_not_null()
            if frame.schema[name] in (pl.Float32, pl.Float64):
                present = present & pl.col(name).is_not_nan()  # pandera counts NaN as missing
            rules.append(_Rule(name, NOT_NULLABLE, lazy.select(present)))
        if column.unique:
            rules.append(_Rule(name, FIELD_UNIQUENESS, lazy.select(pl.col(name).is_duplicated().not_())))
        for check in column.checks:
            if check.get_backend(lazy) is not PolarsCheckBackend:
                return None
            try:
                passes = PolarsCheckBackend(_reloaded(check)).apply(PolarsData(lazy, name))
            except Exception:  # pandera reports a check that raises
                return None
            if not isinstance(passes, pl.LazyFrame):
                return None
            kept = pl.col(CHECK_OUTPUT_KEY)
            passes = passes.select(kept | kept.is_null() if check.ignore_na else kept.fill_null(False))
            rules.append(_Rule(name, _check_name(check), passes))
    return rules


def _reloaded(check: Check) -> Check:
    """The check as `Check.__call__` readies it: a built-in check (`isin`, `ge`) takes its function
    from pandera's registry again, where the Polars variant is registered only late."""
    name = getattr(check._check_fn, "__name__", None)
    if name is not None and check.is_builtin_check(name):
        check._check_fn = check.get_builtin_check_fn(name)
    return check


def _check_name(check: Check) -> str:
    """What pandera calls a check in its failure cases."""
    if check.error is not None:
        return str(check.error)
    return check.name if check.name is not None else str(check)


def _judge(frame: pl.DataFrame, schema: pa.DataFrameSchema, rules: list[_Rule]) -> pl.DataFrame | None:
    """One collect for every rule; None when pandera must say what failed (a duplicated key)."""
    outputs = [rule.passes.select(pl.first().alias(str(i))) for i, rule in enumerate(rules)]
    key = [c for c in (schema.unique or []) if c in frame.columns]
    if key:
        outputs.append(frame.lazy().select(pl.struct(key).is_duplicated().alias("key_duplicated")))
    try:
        judged = pl.concat(outputs, how="horizontal").collect() if outputs else pl.DataFrame()
    except Exception:  # pandera reports a check that raises
        return None
    if key and judged.get_column("key_duplicated").any():
        return None
    cases = [_cases(frame, rule, judged.get_column(str(i))) for i, rule in enumerate(rules)]
    failed = [c for c in cases if c is not None]
    return pl.concat(failed) if failed else FAILURE_SCHEMA.to_frame()


def _cases(frame: pl.DataFrame, rule: _Rule, passes: pl.Series) -> pl.DataFrame | None:
    """The failing rows of one rule, as pandera lists them (the value cast to text)."""
    if passes.all():
        return None
    failing = passes.not_()
    values = frame.get_column(rule.column).filter(failing)
    labels = (("schema_context", "Column"), ("column", rule.column), ("check", rule.check))
    return pl.DataFrame(
        {
            **{name: pl.repeat(text, values.len(), dtype=pl.String, eager=True) for name, text in labels},
            "failure_case": values.cast(pl.String),
            POSITION: failing.arg_true().cast(pl.UInt32),
        }
    )


def _by_pandera(frame: pl.DataFrame, contract: type[pa.DataFrameModel]) -> pl.DataFrame:
    try:
        contract.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return pl.DataFrame(errors.failure_cases).select(
            pl.col("schema_context").cast(pl.String),
            pl.col("column").cast(pl.String),
            pl.col("check").cast(pl.String),
            pl.col("failure_case").cast(pl.String),
            pl.col("index").cast(pl.UInt32).alias(POSITION),
        )
    return FAILURE_SCHEMA.to_frame()
