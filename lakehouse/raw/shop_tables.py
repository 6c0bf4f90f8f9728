"""Raw assets for the shop database's tables: incremental by `updated_at` watermark, append-only.

Each run reads the rows changed after `watermark - overlap`, drops the re-read ones raw already
holds, and appends the rest: every source row version lands exactly once, even one committed late
with an `updated_at` inside the overlap. The watermark is derived from raw (its newest
`updated_at`), so it only moves once a raw commit has succeeded. Rows dated after the moment they
were ingested (a clock gone wrong) are kept but do not count towards it: a single `updated_at` in
2099 would otherwise stop every later change from being read.
"""

import hashlib
from datetime import datetime

import dagster as dg
import polars as pl

from lakehouse.orchestration.freshness import DAILY
from lakehouse.raw.ingestion import (
    RAW,
    not_yet_ingested,
    now_utc,
    permanent_errors_fail_at_once,
    with_ingestion_columns,
)
from lakehouse.sources.errors import SourceSchemaError
from lakehouse.sources.shop_db import ShopDatabase
from lakehouse.sources.shop_tables import SHOP_TABLES, SourceTable
from lakehouse.storage import write_spec
from lakehouse.storage.store import DeltaStore

# The shop's `updated_at` (fixed width, so text order is time order), for Python and for Polars.
WATERMARK_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
POLARS_WATERMARK_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"


def current_watermark(store: DeltaStore, key: dg.AssetKey, column: str) -> str | None:
    """The newest `column` in raw among rows not dated after their own ingestion; None before any."""
    raw = store.scan_or_none(key)
    if raw is None:
        return None
    ingested = pl.col("_ingested_at").dt.strftime(POLARS_WATERMARK_FORMAT)
    return raw.filter(pl.col(column) <= ingested).select(pl.col(column).max()).collect().item()


def window_start(table: SourceTable, watermark: str | None) -> str | None:
    """`watermark - overlap`, in the watermark's own text form: where the next extraction starts."""
    if watermark is None:
        return None
    try:
        instant = datetime.strptime(watermark, WATERMARK_FORMAT)
    except ValueError as error:
        raise SourceSchemaError(
            f"shop.{table.name}.{table.watermark_column}: watermark {watermark!r} is not a UTC instant "
            f"like 2025-01-01T06:00:00.000000Z (rule: watermark_format)"
        ) from error
    return (instant - table.overlap).strftime(WATERMARK_FORMAT)


def held_since(store: DeltaStore, key: dg.AssetKey, table: SourceTable, since: str | None) -> pl.LazyFrame:
    """The rows raw holds in the extraction window (all of them for a first extraction)."""
    raw = store.scan_or_none(key)
    if raw is None:
        return pl.LazyFrame(schema=table.columns)
    return raw if since is None else raw.filter(pl.col(table.watermark_column) > since)


def batch_id(table: SourceTable, since: str | None, rows: pl.DataFrame) -> str:
    """The window and a digest of the rows: two different late arrivals in one window never share an id."""
    until = rows.get_column(table.watermark_column).max()
    digest = hashlib.sha256(rows.hash_rows().sort().to_numpy().tobytes()).hexdigest()[:16]
    return f"shop.{table.name}:{since or 'start'}..{until}:{digest}"


def build_raw_shop_asset(table: SourceTable) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", table.name])

    @dg.asset(
        key=key,
        **RAW,
        freshness_policy=DAILY,
        kinds={"delta", "polars"},
        description=(
            f"shop.{table.name} as extracted, appended by `{table.watermark_column}` watermark "
            f"(re-reading {table.overlap} before it; rows already held are dropped)."
        ),
        metadata={
            **write_spec.append(),
            "source": f"shop.{table.name}",
            "business_keys": list(table.keys),
        },
    )
    def raw_shop_table(
        context: dg.AssetExecutionContext, shop_db: ShopDatabase, store: DeltaStore
    ) -> dg.Output[pl.DataFrame]:
        ingested_at = now_utc()
        watermark = current_watermark(store, key, table.watermark_column)
        with permanent_errors_fail_at_once():
            since = window_start(table, watermark)
            read = shop_db.extract_changes(table, since)
        rows = not_yet_ingested(read, held_since(store, key, table, since))
        future = rows.filter(pl.col(table.watermark_column) > ingested_at.strftime(WATERMARK_FORMAT)).height
        context.log.info(
            f"shop.{table.name}: {read.height} rows changed after {since or 'the start'}, "
            f"{rows.height} not yet in raw"
        )
        if future:
            context.log.warning(
                f"shop.{table.name}: {future} row(s) have a {table.watermark_column} after {ingested_at} "
                "(future-dated): ingested, but not counted towards the watermark"
            )
        batch = with_ingestion_columns(
            rows,
            source=f"shop.{table.name}",
            batch_id=batch_id(table, since, rows),
            run_id=context.run.run_id,
            ingested_at=ingested_at,
        )
        return dg.Output(
            batch,
            metadata={
                "watermark_from": watermark or "",
                "window_from": since or "",
                "newest_extracted": rows.get_column(table.watermark_column).max() or "",
                "rows_read": read.height,
                "rows_already_in_raw": read.height - rows.height,
                "rows_extracted": rows.height,
                "rows_future_dated": future,
            },
        )

    return raw_shop_table


raw_shop_assets = [build_raw_shop_asset(t) for t in SHOP_TABLES.values()]
