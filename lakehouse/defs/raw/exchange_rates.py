"""Raw exchange rates: the API's daily currency -> USD rates, appended for the days not yet in raw.

The window starts the day after the newest `date` already in raw (or at the provider's first day
when the table is empty), so it only moves once a raw commit has succeeded, and ends at the
provider's last published day: today (UTC) for a real API, the simulation's last day for the
simulated one (`ExchangeRateApi.published_days`). Run config may override either end. The client
returns every page of the window or raises, so a window lands whole or not at all; the batch id
names the window, so a retried step never appends it twice.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl
from pydantic import Field

from lakehouse.defs.raw.ingestion import (
    RAW,
    module_version,
    permanent_errors_fail_at_once,
    with_ingestion_columns,
)
from lakehouse.lib.columns import now_utc
from lakehouse.lib.data_version import ingested_data_version
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.reads import TableReads
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.sources.exchange_rates import RATE_COLUMNS, RATES_PATH, ExchangeRateApi

RAW_EXCHANGE_RATES = dg.AssetKey(["raw", "exchange_rates"])


class RatesWindow(dg.Config):
    first_day: str | None = Field(
        default=None,
        description="Day to start from when raw is empty (YYYY-MM-DD); default the provider's first day.",
    )
    last_day: str | None = Field(
        default=None,
        description=(
            "Last day to fetch (YYYY-MM-DD); default the provider's last published day: today (UTC), "
            "or the simulation's last day for the simulated provider."
        ),
    )


def pending_window(store: TableReads, window: RatesWindow, published: tuple[date, date]) -> tuple[date, date]:
    """The days to fetch: after the newest in raw (or from the first day) to the last; none if start > end.

    `published`: the provider's first and last day, used where `window` does not set them.
    """
    first, last = published
    newest = store.newest(RAW_EXCHANGE_RATES, "date")
    if newest is None:
        start = date.fromisoformat(window.first_day) if window.first_day else first
    else:
        start = newest + timedelta(days=1)
    return start, date.fromisoformat(window.last_day) if window.last_day else last


@dg.asset(
    key=RAW_EXCHANGE_RATES,
    **RAW,
    code_version=module_version(__name__),
    freshness_policy=DAILY,
    kinds={"delta", "polars", "api"},
    description="Daily currency -> USD rates from the exchange-rate API, appended for days not yet in raw.",
    metadata={
        **write_spec.append(),
        "source": f"exchange-rate API {RATES_PATH}",
        "business_keys": ["date", "currency"],
    },
)
def raw_exchange_rates(
    context: dg.AssetExecutionContext,
    config: RatesWindow,
    exchange_rate_api: ExchangeRateApi,
    store: DeltaStore,
) -> dg.Output[pl.DataFrame]:
    start, end = pending_window(store.reading(context), config, exchange_rate_api.published_days())
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
        source=exchange_rate_api.source,
        batch_id=f"exchange_rates:{start}..{end}",
        run_id=context.run.run_id,
        ingested_at=now_utc(),
    )
    return dg.Output(
        batch,
        data_version=ingested_data_version(context, context.asset_key, batch),
        metadata={
            "window_from": start.isoformat(),
            "window_to": end.isoformat(),
            "days_fetched": rates["date"].n_unique(),
            "rows_extracted": rates.height,
        },
    )
