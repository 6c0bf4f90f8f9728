"""The simulated exchange-rate API, over real HTTP: pages of exact rates, and the failures it injects."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import requests

from lakehouse.lib.currency import RATE
from lakehouse.simulator.exchange_api import (
    MAX_PAGE_SIZE,
    ExchangeRateServer,
    Fault,
    Faults,
    SimulatedExchangeRateApi,
)
from lakehouse.simulator.exchange_rates import daily_rates, simulated_days
from lakehouse.simulator.state import Params, write_params

JANUARY = "start=2025-01-01&end=2025-01-31"  # 31 days x 5 currencies = 155 rates


def get(server: ExchangeRateServer, query: str, timeout: float = 5) -> requests.Response:
    return requests.get(f"{server.base_url}/v1/rates?{query}", timeout=timeout)


def test_pages_hold_every_rate_once_as_exact_text():
    with ExchangeRateServer(seed=42) as server:
        pages = [get(server, f"{JANUARY}&page={n}&page_size=40").json() for n in (1, 2, 3, 4)]

    assert [p["next_page"] for p in pages] == [2, 3, 4, None]
    assert [len(p["data"]) for p in pages] == [40, 40, 40, 35]
    assert {(p["page"], p["page_size"], p["total"]) for p in pages} == {(n, 40, 155) for n in (1, 2, 3, 4)}
    served = pl.DataFrame([r for p in pages for r in p["data"]])
    expected = daily_rates(date(2025, 1, 1), date(2025, 1, 31), seed=42).with_columns(
        pl.col("date", "usd_rate").cast(pl.String)
    )
    assert served.equals(expected)
    assert served["usd_rate"][0] == "0.6520"  # four decimals as text, never a float


def test_a_page_past_the_end_is_empty():
    with ExchangeRateServer() as server:
        page = get(server, f"{JANUARY}&page=9&page_size=40").json()
    assert (page["data"], page["next_page"], page["total"]) == ([], None, 155)


def test_days_after_the_last_published_day_are_not_served():
    with ExchangeRateServer(last_day=date(2025, 1, 10)) as server:
        page = get(server, f"{JANUARY}&page_size={MAX_PAGE_SIZE}").json()
    assert page["total"] == 50
    assert page["data"][-1]["date"] == "2025-01-10"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("end=2025-01-31", "missing parameter start (YYYY-MM-DD)"),
        ("start=2025-01-01&end=2025-31-01", "parameter end='2025-31-01' is not a date (YYYY-MM-DD)"),
        ("start=2025-02-01&end=2025-01-31", "end 2025-01-31 is before start 2025-02-01"),
        (f"{JANUARY}&page=0", "parameter page='0' must be an integer >= 1"),
        (f"{JANUARY}&page_size=1001", "parameter page_size='1001' must be an integer 1..1000"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(query, error):
    with ExchangeRateServer() as server:
        response = get(server, query)
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_any_other_path_is_a_404():
    with ExchangeRateServer() as server:
        response = requests.get(f"{server.base_url}/v2/rates?{JANUARY}", timeout=5)
    assert (response.status_code, response.json()) == (404, {"error": "no such endpoint: /v2/rates"})


def test_the_script_answers_the_first_requests_of_each_page_then_it_recovers():
    faults = Faults(script=(Fault.UNAVAILABLE, Fault.TOO_MANY_REQUESTS, Fault.SERVER_ERROR, Fault.TRUNCATED))
    with ExchangeRateServer(faults=faults) as server:
        first = [get(server, f"{JANUARY}&page=1") for _ in range(5)]
        second = [get(server, f"{JANUARY}&page=2&page_size=100") for _ in range(5)]
        served = server.served

    for responses in (first, second):
        assert [r.status_code for r in responses] == [503, 429, 500, 200, 200]
        assert responses[1].headers["Retry-After"] == "1"
        with pytest.raises(json.JSONDecodeError):
            json.loads(responses[3].text)  # a 200 whose body is cut short
        assert responses[3].text == responses[4].text[: len(responses[4].text.encode()) // 2]
        assert responses[4].json()["data"]
    assert [s.fault for s in served] == [*faults.script, None] * 2


def test_faults_only_on_chosen_pages_and_forever():
    faults = Faults(forever=Fault.UNAVAILABLE, pages=frozenset({2}))
    with ExchangeRateServer(faults=faults) as server:
        assert [get(server, f"{JANUARY}&page=2").status_code for _ in range(4)] == [503] * 4
        assert get(server, f"{JANUARY}&page=1").status_code == 200
        assert get(server, f"{JANUARY}&page=3").status_code == 200


def test_a_slow_answer_outlasts_a_short_client_timeout_and_is_right_when_waited_for():
    faults = Faults(script=(Fault.SLOW, Fault.SLOW), slow_seconds=0.4)
    with ExchangeRateServer(faults=faults) as server:
        with pytest.raises(requests.Timeout):
            get(server, JANUARY, timeout=0.1)
        began = time.monotonic()
        patient = get(server, JANUARY, timeout=5)
        assert time.monotonic() - began >= 0.4
    assert patient.status_code == 200
    assert patient.json()["total"] == 155


def test_stopping_releases_the_port_even_with_a_slow_answer_pending():
    server = ExchangeRateServer(faults=Faults(forever=Fault.SLOW, slow_seconds=30)).start()
    with pytest.raises(requests.Timeout):
        get(server, JANUARY, timeout=0.1)
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 5  # not the 30 s the answer would take
    with pytest.raises(requests.ConnectionError):
        get(server, JANUARY)


def test_the_simulated_provider_serves_the_simulations_rates_over_http_only_while_fetching(tmp_path: Path):
    params = Params(scale=0.01, seed=7, start=date(2025, 2, 1), days=28)
    write_params(tmp_path, params)
    api = SimulatedExchangeRateApi(sources_dir=str(tmp_path), page_size=50)

    assert api.published_days() == simulated_days(params) == (date(2025, 2, 1), date(2025, 2, 28))
    rates = api.fetch_rates(date(2025, 2, 1), date(2025, 2, 28))
    # A range past the simulation's last day ends there: the shop has not lived those days yet.
    capped = api.fetch_rates(date(2025, 2, 27), date(2025, 3, 5))

    assert rates.equals(
        daily_rates(date(2025, 2, 1), date(2025, 2, 28), seed=7).with_columns(pl.col("usd_rate").cast(RATE))
    )
    assert capped.equals(rates.filter(pl.col("date") >= date(2025, 2, 27)))
    assert "exchange-rate-api" not in {thread.name for thread in threading.enumerate()}  # stopped after
