"""Ingestion columns every raw table carries, so each row can be traced to its source batch."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import dagster as dg
import polars as pl

from lakehouse.lib.code_version import code_version
from lakehouse.lib.quality.quarantine import PROBLEMS_LOGGED
from lakehouse.sources.errors import SourceSchemaError, SourceUnavailableError
from lakehouse.sources.landing import LandingFolderMissingError

EXTRACTION_RETRY = dg.RetryPolicy(
    max_retries=3, delay=1, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# Definition metadata of a raw table that records what was ingested (not source data): no anomaly checks.
REGISTRY = "lakehouse/registry"
# What every raw asset shares: its group and the retries of extraction.
RAW = {"group_name": "raw", "retry_policy": EXTRACTION_RETRY}


def module_version(module_name: str) -> str:
    """The code version of a raw module's assets: its whole source (extraction spans its functions)."""
    return code_version(sys.modules[module_name])


def with_ingestion_columns(
    rows: pl.DataFrame,
    *,
    source: str,
    batch_id: str,
    run_id: str,
    ingested_at: datetime,
    first_row: int = 1,
) -> pl.DataFrame:
    """Add `_ingested_at`, `_source`, `_batch_id`, `_run_id` and, unless present, `_row_number`.

    `_row_number` is the row's position in its batch (for files: the line number), so
    (`_batch_id`, `_row_number`) identifies every raw row; `first_row` numbers a batch written in
    parts (a part's first row).
    """
    if "_row_number" not in rows.columns:
        rows = rows.with_row_index("_row_number", offset=first_row).with_columns(
            pl.col("_row_number").cast(pl.Int64)
        )
    return rows.with_columns(
        pl.lit(ingested_at, pl.Datetime("us", "UTC")).alias("_ingested_at"),
        pl.lit(source).alias("_source"),
        pl.lit(batch_id).alias("_batch_id"),
        pl.lit(run_id).alias("_run_id"),
    )


def not_yet_ingested(rows: pl.DataFrame, held: pl.LazyFrame) -> pl.DataFrame:
    """The rows `held` lacks, as multisets: a row value held k times drops k of its copies.

    So re-reading rows already ingested adds nothing, while a source that really holds two
    identical rows (a legacy table without keys) still lands both, once each.
    """
    columns = rows.columns
    copy = pl.int_range(pl.len()).over(columns).alias("_copy")
    return (
        rows.lazy()
        .with_columns(copy)
        .join(
            held.select(columns).with_columns(copy),
            on=[*columns, "_copy"],
            how="anti",
            nulls_equal=True,
            maintain_order="left",
        )
        .drop("_copy")
        .collect()
    )


def reported_problems(context: dg.AssetExecutionContext, problems: list[str]) -> dg.MetadataValue:
    """Log the first `PROBLEMS_LOGGED` parse problems (and how many more); the same as metadata."""
    for problem in problems[:PROBLEMS_LOGGED]:
        context.log.warning(problem)
    if len(problems) > PROBLEMS_LOGGED:
        context.log.warning(f"… and {len(problems) - PROBLEMS_LOGGED} more problems")
    return dg.MetadataValue.md("\n".join(f"- {p}" for p in problems[:PROBLEMS_LOGGED]) or "none")


@contextmanager
def permanent_errors_fail_at_once() -> Iterator[None]:
    """A missing source, folder or column will not heal by retrying: fail the step now, clearly.

    Other errors (a timeout, a locked file) go on to the asset's retry policy.
    """
    try:
        yield
    except (SourceUnavailableError, SourceSchemaError, LandingFolderMissingError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
