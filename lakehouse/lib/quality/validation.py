"""Validate once, split once: one pass labels every failing row with its rules (see `failures`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from lakehouse.lib.columns import RULES
from lakehouse.lib.quality.contract import Contract, Severity, conform, severities
from lakehouse.lib.quality.failures import POSITION, failure_cases

_SAMPLE_ROWS = 10


class ContractViolationError(ValueError):
    """A `fail` rule broke: the asset must stop. The message names the table, rule and rows."""


@dataclass(frozen=True)
class Validation:
    valid: pl.DataFrame
    rejected: pl.DataFrame  # the rejected rows, with `_rules` (list of "column:check")
    rule_failures: dict[str, int]  # rows failing each rule, every severity
    warnings: dict[str, int]  # rows kept despite failing a `warn` rule


def validate(
    frame: pl.DataFrame, contract: type[Contract], table: str, present: pl.DataFrame | None = None
) -> Validation:
    """Check `frame` against the contract and split it into valid and rejected rows.

    `present`: for source text columns, whether each row had a value before the transform. A value
    that was there but came out null did not parse: rule `<column>:parseable` (drop).
    """
    failures = failure_cases(frame, contract)
    labelled = _label(failures, severities(contract))
    if present is not None:
        labelled = pl.concat([labelled, _unparsed(frame, present)], how="diagonal_relaxed")
    fatal = labelled.filter(pl.col("severity") == Severity.FAIL.value)
    if fatal.height:
        raise ContractViolationError(_describe_fatal(table, fatal, frame))
    dropped = (
        labelled.filter(pl.col("severity") == Severity.DROP.value)
        .group_by(POSITION)
        .agg(pl.col("rule").unique().sort().alias(RULES))
        .sort(POSITION)
    )
    # A boolean mask splits the frame without joining (or copying) it more than once.
    rejected_mask = np.zeros(frame.height, dtype=bool)
    rejected_mask[dropped.get_column(POSITION).to_numpy()] = True
    mask = pl.Series(rejected_mask)
    return Validation(
        valid=frame.filter(~mask),
        rejected=frame.filter(mask).with_columns(dropped.get_column(RULES)),
        rule_failures=_counts(labelled),
        warnings=_counts(labelled.filter(pl.col("severity") == Severity.WARN.value)),
    )


def enforce(frame: pl.DataFrame, contract: type[Contract], table: str) -> pl.DataFrame:
    """The frame conformed to the contract, whose every rule must hold (nothing to quarantine).

    For tables built from already validated data (curated): a broken rule is a bug upstream, so
    the write stops with the failing rows shown, whatever severity the rule declares.
    """
    conformed = conform(frame, contract, table)
    checked = validate(conformed, contract, table)
    if checked.rejected.height:
        raise ContractViolationError(
            f"{table}: {checked.rejected.height} row(s) break contract rule(s) "
            f"{', '.join(sorted(checked.rule_failures))}\n{checked.rejected.head(_SAMPLE_ROWS)}"
        )
    return conformed


def _unparsed(frame: pl.DataFrame, present: pl.DataFrame) -> pl.DataFrame:
    """(position, rule, severity) of each source value that was present but is null after the transform."""
    columns = [c for c in present.columns if c in frame.columns]
    if not columns:
        return pl.DataFrame(schema={POSITION: pl.UInt32, "rule": pl.String, "severity": pl.String})
    failed = pl.DataFrame([present.get_column(c) & frame.get_column(c).is_null() for c in columns])
    return (
        failed.with_row_index(POSITION)
        .filter(pl.any_horizontal(columns))  # the few failing rows, before a row per row and column
        .unpivot(index=POSITION, variable_name="column", value_name="failed")
        .filter("failed")
        .select(
            POSITION,
            pl.format("{}:parseable", "column").alias("rule"),
            pl.lit(Severity.DROP.value).alias("severity"),
        )
    )


def _label(failures: pl.DataFrame, levels: dict[str, Severity]) -> pl.DataFrame:
    """Rule `column:check` for column checks; checks without a row position always fail."""
    rule = (
        pl.when(pl.col("schema_context") == "Column")
        .then(pl.concat_str("column", pl.lit(":"), "check"))
        .otherwise(pl.col("check"))
    )
    # pandera names built-in checks with their arguments (`isin(['placed', …])`): a contract may
    # declare either the full name or the bare one.
    declared = {k: v.value for k, v in levels.items()}
    level = pl.coalesce(
        pl.col("check").replace_strict(declared, default=None, return_dtype=pl.String),
        pl.col("check")
        .str.extract(r"^([^(]+)", 1)
        .replace_strict(declared, default=None, return_dtype=pl.String),
        pl.lit(Severity.FAIL.value),
    )
    return failures.with_columns(
        rule=rule,
        severity=pl.when(pl.col(POSITION).is_null()).then(pl.lit(Severity.FAIL.value)).otherwise(level),
    )


def _counts(labelled: pl.DataFrame) -> dict[str, int]:
    counts = labelled.group_by("rule").agg(pl.col(POSITION).n_unique().alias("n")).sort("rule")
    return dict(counts.iter_rows())


def _describe_fatal(table: str, fatal: pl.DataFrame, frame: pl.DataFrame) -> str:
    rules = ", ".join(fatal.get_column("rule").unique().sort().to_list())
    positions = fatal.get_column(POSITION).drop_nulls().unique().sort().head(_SAMPLE_ROWS)
    sample = frame.with_row_index(POSITION).filter(pl.col(POSITION).is_in(positions.implode()))
    cases = fatal.select("rule", "failure_case").head(_SAMPLE_ROWS)
    return f"{table}: contract rule(s) {rules} failed (severity fail)\n{cases}\n{sample}"
