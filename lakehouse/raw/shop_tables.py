"""Raw assets for the shop database's tables: incremental by `updated_at` watermark, append-only.

The watermark is the newest `updated_at` already in the raw table, so it only moves once a raw
commit has succeeded; the batch id names the extracted window, so a retried step appends nothing.
"""

import dagster as dg
import polars as pl

from lakehouse import CODE_VERSION
from lakehouse.orchestration.freshness import DAILY
from lakehouse.raw.ingestion import now_utc, permanent_errors_fail_at_once, with_ingestion_columns
from lakehouse.sources.shop_db import ShopDatabase
from lakehouse.sources.shop_tables import SHOP_TABLES, SourceTable
from lakehouse.storage import write_spec
from lakehouse.storage.store import DeltaStore

EXTRACTION_RETRY = dg.RetryPolicy(
    max_retries=3, delay=1, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def current_watermark(store: DeltaStore, key: dg.AssetKey, column: str) -> str | None:
    return store.newest(key, column)


def build_raw_shop_asset(table: SourceTable) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", table.name])

    @dg.asset(
        key=key,
        group_name="raw",
        code_version=CODE_VERSION,
        freshness_policy=DAILY,
        kinds={"delta", "polars"},
        description=f"shop.{table.name} as extracted, appended by `{table.watermark_column}` watermark.",
        metadata={
            **write_spec.append(),
            "source": f"shop.{table.name}",
            "business_keys": list(table.keys),
        },
        retry_policy=EXTRACTION_RETRY,
    )
    def raw_shop_table(
        context: dg.AssetExecutionContext, shop_db: ShopDatabase, store: DeltaStore
    ) -> dg.Output[pl.DataFrame]:
        since = current_watermark(store, key, table.watermark_column)
        with permanent_errors_fail_at_once():
            rows = shop_db.extract_changes(table, since)
        until = rows.get_column(table.watermark_column).max() if rows.height else since
        batch_id = f"shop.{table.name}:{since or 'start'}..{until}"
        context.log.info(f"shop.{table.name}: {rows.height} rows changed after {since or 'the start'}")
        batch = with_ingestion_columns(
            rows,
            source=f"shop.{table.name}",
            batch_id=batch_id,
            run_id=context.run.run_id,
            ingested_at=now_utc(),
        )
        return dg.Output(
            batch,
            metadata={
                "watermark_from": since or "",
                "watermark_to": until or "",
                "rows_extracted": rows.height,
            },
        )

    return raw_shop_table


raw_shop_assets = [build_raw_shop_asset(t) for t in SHOP_TABLES.values()]
