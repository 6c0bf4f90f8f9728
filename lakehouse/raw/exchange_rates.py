"""Raw exchange rates: the API's daily currency -> USD rates, appended for the days not yet in raw.

The window starts the day after the newest `date` already in raw (or at `first_day` when the table
is empty), so it only moves once a raw commit has succeeded, and ends at `last_day` (default:
today, UTC). The client returns every page of the window or raises, so a window lands whole or not
at all; the batch id names the window, so a retried step never appends it twice.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl
from pydantic import Field

from lakehouse import CODE_VERSION
from lakehouse.orchestration.freshness import DAILY
from lakehouse.raw.ingestion import now_utc, permanent_errors_fail_at_once, with_ingestion_columns
from lakehouse.raw.shop_tables import EXTRACTION_RETRY
from lakehouse.sources.exchange_rates import RATE_COLUMNS, RATES_PATH, ExchangeRateApi
from lakehouse.sources.shop_db import redacted
from lakehouse.storage import write_spec
from lakehouse.storage.store import DeltaStore

RAW_EXCHANGE_RATES = dg.AssetKey(["raw", "exchange_rates"])
FIRST_DAY = "2025-01-01"  # the simulator's first day


class RatesWindow(dg.Config):
    first_day: str = Field(default=FIRST_DAY, description="Day to start from when raw is empty (YYYY-MM-DD).")
    last_day: str | None = Field(
        default=None, description="Last day to fetch (YYYY-MM-DD); default today (UTC)."
    )


def pending_window(store: DeltaStore, window: RatesWindow) -> tuple[date, date]:
    """The days to fetch: after the newest in raw (or from `first_day`) to `last_day`; none if start > end."""
    newest = store.newest(RAW_EXCHANGE_RATES, "date")
    start = date.fromisoformat(window.first_day) if newest is None else newest + timedelta(days=1)
    end = date.fromisoformat(window.last_day) if window.last_day else now_utc().date()
    return start, end


@dg.asset(
    key=RAW_EXCHANGE_RATES,
    group_name="raw",
    code_version=CODE_VERSION,
    freshness_policy=DAILY,
    kinds={"delta", "polars", "api"},
    description="Daily currency -> USD rates from the exchange-rate API, appended for days not yet in raw.",
    metadata={
        **write_spec.append(),
        "source": f"exchange-rate API {RATES_PATH}",
        "business_keys": ["date", "currency"],
    },
    retry_policy=EXTRACTION_RETRY,
)
def raw_exchange_rates(
    context: dg.AssetExecutionContext,
    config: RatesWindow,
    exchange_rate_api: ExchangeRateApi,
    store: DeltaStore,
) -> dg.Output[pl.DataFrame]:
    start, end = pending_window(store, config)
    if start > end:
        rates = pl.DataFrame(schema=RATE_COLUMNS)
    else:
        with permanent_errors_fail_at_once():
            rates = exchange_rate_api.fetch_rates(start, end)
    context.log.info(
        f"exchange rates {start}..{end}: {rates.height} rates for {rates['date'].n_unique()} days"
    )
    batch = with_ingestion_columns(
        rates,
        source=f"{redacted(exchange_rate_api.base_url)}{RATES_PATH}",
        batch_id=f"exchange_rates:{start}..{end}",
        run_id=context.run.run_id,
        ingested_at=now_utc(),
    )
    return dg.Output(
        batch,
        metadata={
            "window_from": start.isoformat(),
            "window_to": end.isoformat(),
            "days_fetched": rates["date"].n_unique(),
            "rows_extracted": rates.height,
        },
    )
