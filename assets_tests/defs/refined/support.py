"""Small raw frames for the refined transforms, with the lineage columns raw tables carry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl

from lakehouse.defs.refined.refine import Transform, TransformContext, source_values_present
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.quality.contract import Contract
from lakehouse.lib.quality.validation import Validation, validate

INGESTED_AT = datetime(2025, 1, 3, 0, 0, tzinfo=UTC)
BATCH = "batch-1"
PSEUDONYMISER = Pseudonymiser(key="test-key")


def raw_frame(
    columns: Mapping[str, list[Any]], schema: Mapping[str, pl.DataType] | None = None
) -> pl.DataFrame:
    """Raw rows as ingested: `_row_number` 1, 2, … in one batch, ingested at `INGESTED_AT`."""
    frame = pl.DataFrame(dict(columns), schema_overrides=dict(schema or {}))
    return frame.with_columns(
        pl.lit(INGESTED_AT, pl.Datetime("us", "UTC")).alias("_ingested_at"),
        pl.lit(BATCH).alias("_batch_id"),
        pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("_row_number"),
    )


def context(lookups: Mapping[str, pl.LazyFrame] | None = None) -> TransformContext:
    return TransformContext(dict(lookups or {}), PSEUDONYMISER)


def refine(
    transform: Transform,
    contract: type[Contract],
    raw: pl.DataFrame,
    lookups: Mapping[str, pl.LazyFrame] | None = None,
) -> Validation:
    """Transform and validate exactly as the refine asset does (parse failures included)."""
    transformed = transform(raw.lazy(), context(lookups)).collect()
    return validate(
        transformed, contract, "refined.test", source_values_present(raw.lazy(), contract).collect()
    )


def valid_rows(checked: Validation) -> list[int]:
    return sorted(checked.valid.get_column("_row_number").to_list())


def rejected_rules(checked: Validation) -> dict[int, list[str]]:
    """Rejected raw row number -> the rules it broke."""
    return dict(checked.rejected.select("_row_number", "_rules").iter_rows())


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)
