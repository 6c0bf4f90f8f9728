"""Raw exchange rates: the days not yet in raw, fetched whole from the real API, appended once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse.defs.raw.exchange_rates import (
    RAW_EXCHANGE_RATES,
    RatesWindow,
    pending_window,
    raw_exchange_rates,
)
from lakehouse.defs.raw.ingestion import EXTRACTION_RETRY
from lakehouse.lib.currency import RATE
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.simulator.exchange_api import ExchangeRateServer, Fault, Faults, SimulatedExchangeRateApi
from lakehouse.simulator.exchange_rates import daily_rates
from lakehouse.simulator.state import Params, write_params
from lakehouse.sources.exchange_rates import ExchangeRateApi, ExchangeRatesUnavailableError


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(root=str(tmp_path / "tables"))


@pytest.fixture
def server() -> Iterator[ExchangeRateServer]:
    with ExchangeRateServer(seed=42, faults=Faults(script=(Fault.UNAVAILABLE,), pages=frozenset({1}))) as api:
        yield api


def api(server: ExchangeRateServer, **options) -> ExchangeRateApi:
    return ExchangeRateApi(base_url=server.base_url, backoff_seconds=0.01, page_size=20, **options)


def materialise(instance: dg.DagsterInstance, server: ExchangeRateServer, store: DeltaStore, last_day: str):
    return dg.materialize(
        [raw_exchange_rates],
        instance=instance,
        resources={
            "exchange_rate_api": api(server),
            "store": store,
            "io_manager": DeltaIOManager(store=store),
        },
        run_config=dg.RunConfig({"raw__exchange_rates": RatesWindow(last_day=last_day)}),
    )


def materialised_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_the_asset_is_a_retried_raw_extraction():
    assert raw_exchange_rates.key == RAW_EXCHANGE_RATES == dg.AssetKey(["raw", "exchange_rates"])
    assert raw_exchange_rates.group_names_by_key[RAW_EXCHANGE_RATES] == "raw"
    assert raw_exchange_rates.op.retry_policy == EXTRACTION_RETRY


def test_the_window_starts_after_the_newest_day_in_raw(store, server, instance):
    published = (date(2024, 12, 1), date(2025, 2, 1))
    window = RatesWindow(first_day="2025-01-01", last_day="2025-01-10")
    assert pending_window(store, window, published) == (date(2025, 1, 1), date(2025, 1, 10))
    assert pending_window(store, RatesWindow(), published) == published  # the provider's days by default

    assert materialise(instance, server, store, "2025-01-04").success
    assert pending_window(store, window, published) == (date(2025, 1, 5), date(2025, 1, 10))
    assert pending_window(store, RatesWindow(), published) == (date(2025, 1, 5), date(2025, 2, 1))


def test_appends_the_new_days_once_and_nothing_when_there_are_none(store, server, instance):
    first = materialise(instance, server, store, "2025-01-10")
    assert first.success
    metadata = materialised_metadata(first)
    assert [metadata[k] for k in ("window_from", "window_to", "days_fetched", "rows_extracted")] == [
        "2025-01-01",
        "2025-01-10",
        10,
        50,
    ]
    retried = [e.message for e in instance.all_logs(first.run_id) if "retrying in" in (e.message or "")]
    assert len(retried) == 1 and "503 Service Unavailable (attempt 1 of 5)" in retried[0]  # shown in the UI
    version, requests = store.version(RAW_EXCHANGE_RATES), len(server.served)

    again = materialise(instance, server, store, "2025-01-10")
    assert again.success
    assert materialised_metadata(again)["rows_extracted"] == 0
    assert store.version(RAW_EXCHANGE_RATES) == version  # nothing written
    assert len(server.served) == requests  # nothing even asked for

    later = materialise(instance, server, store, "2025-01-12")
    assert later.success

    raw = store.scan(RAW_EXCHANGE_RATES).sort("date", "currency").collect()
    assert raw.select("date", "currency", "usd_rate").equals(
        daily_rates(date(2025, 1, 1), date(2025, 1, 12), seed=42).with_columns(pl.col("usd_rate").cast(RATE))
    )
    batches = (
        raw.group_by("_batch_id", "_run_id").agg(pl.len(), pl.col("_row_number").max()).sort("_batch_id")
    )
    assert batches.rows() == [
        ("exchange_rates:2025-01-01..2025-01-10", first.run_id, 50, 50),
        ("exchange_rates:2025-01-11..2025-01-12", later.run_id, 10, 10),
    ]
    assert raw["_source"].unique().to_list() == [f"{server.base_url}/v1/rates"]
    assert raw.schema["_ingested_at"] == pl.Datetime("us", "UTC")


def test_a_window_that_cannot_be_fetched_whole_writes_nothing(store):
    faults = Faults(forever=Fault.UNAVAILABLE, pages=frozenset({2}))  # page 1 arrives, page 2 never
    with ExchangeRateServer(seed=42, faults=faults) as server:
        with pytest.raises(
            ExchangeRatesUnavailableError, match="page=2&page_size=20: gave up after 2 attempts"
        ):
            raw_exchange_rates(
                context=dg.build_asset_context(),
                config=RatesWindow(last_day="2025-01-10"),
                exchange_rate_api=api(server, max_attempts=2),
                store=store,
            )
        assert [s.page for s in server.served] == [1, 2, 2]
    assert not store.exists(RAW_EXCHANGE_RATES)


def test_a_refused_request_fails_the_step_without_retries(store, server):
    refused = ExchangeRateApi(base_url=f"{server.base_url}/wrong")
    with pytest.raises(dg.Failure) as raised:
        raw_exchange_rates(
            context=dg.build_asset_context(),
            config=RatesWindow(last_day="2025-01-10"),
            exchange_rate_api=refused,
            store=store,
        )
    assert raised.value.allow_retries is False
    assert "404 Not Found" in raised.value.description
    assert not store.exists(RAW_EXCHANGE_RATES)


def test_with_the_simulated_provider_the_window_ends_at_the_simulations_last_day(
    store, tmp_path: Path, instance: dg.DagsterInstance
):
    """The machine's clock is not the shop's: raw holds exactly the days the simulation has lived."""
    sources = tmp_path / "sources"
    sources.mkdir()
    write_params(sources, Params(scale=0.01, seed=7, start=date(2025, 3, 1), days=10))
    resources = {
        "exchange_rate_api": SimulatedExchangeRateApi(sources_dir=str(sources)),
        "store": store,
        "io_manager": DeltaIOManager(store=store),
    }

    first = dg.materialize([raw_exchange_rates], instance=instance, resources=resources)
    write_params(sources, Params(scale=0.01, seed=7, start=date(2025, 3, 1), days=12))  # two days later
    later = dg.materialize([raw_exchange_rates], instance=instance, resources=resources)

    assert first.success and later.success
    assert [materialised_metadata(r)["window_to"] for r in (first, later)] == ["2025-03-10", "2025-03-12"]
    raw = store.scan(RAW_EXCHANGE_RATES).sort("date", "currency").collect()
    assert raw.select("date", "currency", "usd_rate").equals(
        daily_rates(date(2025, 3, 1), date(2025, 3, 12), seed=7).with_columns(pl.col("usd_rate").cast(RATE))
    )
    assert raw.group_by("_batch_id").len().sort("_batch_id").rows() == [
        ("exchange_rates:2025-03-01..2025-03-10", 50),
        ("exchange_rates:2025-03-11..2025-03-12", 10),
    ]
    assert raw["_source"].unique().to_list() == ["simulated exchange-rate API (seed 7)/v1/rates"]
