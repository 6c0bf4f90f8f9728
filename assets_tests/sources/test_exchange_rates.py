"""The exchange-rate API client against the real simulated server: all pages or a clear error."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import polars as pl
import pytest

from lakehouse.lib.currency import RATE
from lakehouse.simulator.exchange_api import ExchangeRateServer, Fault, Faults
from lakehouse.simulator.exchange_rates import daily_rates
from lakehouse.sources.exchange_rates import (
    ExchangeRateApi,
    ExchangeRatesPayloadError,
    ExchangeRatesRejectedError,
    ExchangeRatesUnavailableError,
    all_pages,
    backoff_ceiling,
    next_page,
    page_rates,
    retry_after_seconds,
)

START, END = date(2025, 1, 1), date(2025, 2, 28)  # 59 days x 5 currencies = 295 rates
PAGES = 8  # of 40 rates


def client(server: ExchangeRateServer, **options) -> ExchangeRateApi:
    # a timeout a loaded machine still meets on a healthy page; the slow fault sleeps past it
    fast = {"timeout_seconds": 1.0, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "page_size": 40}
    return ExchangeRateApi(**({"base_url": server.base_url} | fast | options))


def expected(start: date = START, end: date = END) -> pl.DataFrame:
    return daily_rates(start, end, seed=42).with_columns(pl.col("usd_rate").cast(RATE))


def test_a_real_provider_publishes_up_to_today_and_is_named_without_credentials():
    api = ExchangeRateApi(base_url="https://user:secret@rates.example.com", history_start="2024-06-01")

    assert api.published_days() == (date(2024, 6, 1), datetime.now(UTC).date())
    assert "secret" not in api.source and api.source.endswith("rates.example.com/v1/rates")


def test_follows_every_page_and_returns_each_day_and_currency_once():
    with ExchangeRateServer(seed=42) as server:
        rates = client(server).fetch_rates(START, END)
        served = server.served

    assert rates.height == 59 * 5
    assert rates.equals(expected())
    assert rates.schema == pl.Schema({"date": pl.Date, "currency": pl.String, "usd_rate": pl.Decimal(18, 6)})
    assert [s.page for s in served] == list(range(1, PAGES + 1))


def test_survives_timeouts_server_errors_and_cut_bodies_on_every_page(caplog):
    script = (Fault.SLOW, Fault.UNAVAILABLE, Fault.TRUNCATED, Fault.SERVER_ERROR)
    with ExchangeRateServer(seed=42, faults=Faults(script=script, slow_seconds=2.0)) as server:
        with caplog.at_level(logging.WARNING):
            rates = client(server, max_attempts=5, page_size=100).fetch_rates(START, END)
        served = server.served

    assert rates.equals(expected())
    assert [s.page for s in served] == [1] * 5 + [2] * 5 + [3] * 5
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 3 * 4
    assert "page=1&page_size=100: no answer within 1.0 s (timeout) (attempt 1 of 5)" in retries[0]
    assert "503 Service Unavailable (attempt 2 of 5)" in retries[1]
    assert "200 OK with a body that is not JSON" in retries[2]
    assert "500 Internal Server Error (attempt 4 of 5)" in retries[3]


def test_a_429_waits_at_least_its_retry_after():
    faults = Faults(script=(Fault.TOO_MANY_REQUESTS,), retry_after="1", pages=frozenset({1}))
    with ExchangeRateServer(seed=42, faults=faults) as server:
        rates = client(server, max_backoff_seconds=5).fetch_rates(START, END)
        first, retried = server.served[:2]

    assert rates.equals(expected())
    assert (first.fault, retried.fault, retried.path) == (Fault.TOO_MANY_REQUESTS, None, first.path)
    assert retried.at - first.at >= 1.0


def test_a_long_retry_after_is_capped():
    faults = Faults(script=(Fault.TOO_MANY_REQUESTS,), retry_after="3600", pages=frozenset({1}))
    with ExchangeRateServer(seed=42, faults=faults) as server:
        rates = client(server, max_backoff_seconds=0.3).fetch_rates(START, END)
        first, retried = server.served[:2]

    assert rates.equals(expected())
    assert 0.3 <= retried.at - first.at < 10  # nowhere near the hour asked for


def test_gives_up_after_exactly_max_attempts_naming_url_and_last_failure():
    with ExchangeRateServer(seed=42, faults=Faults(forever=Fault.UNAVAILABLE)) as server:
        with pytest.raises(ExchangeRatesUnavailableError) as raised:
            client(server, max_attempts=3).fetch_rates(START, END)
        served = server.served

    assert str(raised.value) == (
        f"GET {server.base_url}/v1/rates?start=2025-01-01&end=2025-02-28&page=1&page_size=40: "
        "gave up after 3 attempts; last: 503 Service Unavailable"
    )
    assert len(served) == 3


def test_a_page_that_never_recovers_fails_the_whole_fetch():
    faults = Faults(forever=Fault.SLOW, pages=frozenset({3}), slow_seconds=2.0)
    with ExchangeRateServer(seed=42, faults=faults) as server:
        with pytest.raises(
            ExchangeRatesUnavailableError, match=r"page=3&page_size=40: gave up after 2 attempts; "
        ):
            client(server, max_attempts=2).fetch_rates(START, END)
        served = server.served

    assert [s.page for s in served] == [1, 2, 3, 3]  # nothing after page 3, nothing returned


@pytest.mark.parametrize(
    ("base_path", "options", "status"),
    [
        ("/wrong", {}, "404 Not Found"),
        ("", {"page_size": 5000}, "400 Bad Request"),
    ],
)
def test_a_refused_request_is_not_retried(base_path, options, status):
    with ExchangeRateServer(seed=42) as server:
        api = ExchangeRateApi(base_url=server.base_url + base_path, max_attempts=5, **options)
        with pytest.raises(ExchangeRatesRejectedError, match=f": {status}: .*not retried"):
            api.fetch_rates(START, END)
        assert len(server.served) == 1


def test_errors_and_logs_never_show_a_password_in_the_url(caplog):
    with ExchangeRateServer(seed=42, faults=Faults(forever=Fault.UNAVAILABLE)) as server:
        base_url = server.base_url.replace("http://", "http://reader:s3cret@")
        with caplog.at_level(logging.WARNING), pytest.raises(ExchangeRatesUnavailableError) as raised:
            client(server, base_url=base_url, max_attempts=2).fetch_rates(START, END)

    assert "http://reader:***@127.0.0.1" in str(raised.value)
    assert "s3cret" not in str(raised.value) + caplog.text


def test_nothing_published_in_the_range_is_an_empty_frame():
    with ExchangeRateServer(seed=42, last_day=date(2024, 12, 31)) as server:
        rates = client(server).fetch_rates(START, END)
    assert rates.height == 0
    assert rates.columns == ["date", "currency", "usd_rate"]


def test_end_before_start_is_refused_before_any_request():
    with pytest.raises(ValueError, match="end 2025-01-01 is before start 2025-01-02"):
        ExchangeRateApi(base_url="http://127.0.0.1:9").fetch_rates(date(2025, 1, 2), date(2025, 1, 1))


def test_retry_after_in_seconds_or_as_an_http_date():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0  # already past
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_backoff_doubles_up_to_its_cap_and_full_jitter_stays_below_it():
    assert [backoff_ceiling(n, 0.5, 3.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    api = ExchangeRateApi(base_url="http://127.0.0.1:9", backoff_seconds=0.5, max_backoff_seconds=3.0)
    waits = [api.wait_seconds(3, None) for _ in range(200)]
    assert all(0 <= w <= 2.0 for w in waits)
    assert len(set(waits)) > 150  # jittered, not a fixed delay
    assert api.wait_seconds(1, 2.5) == 2.5  # the server's Retry-After wins
    assert api.wait_seconds(1, 60) == 3.0  # but is capped


GOOD = {"date": "2025-01-01", "currency": "EUR", "usd_rate": "1.0812"}


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"date": "2025-01-01", "currency": "EUR"}, "missing usd_rate (rule: required)"),
        (GOOD | {"usd_rate": "1,0812"}, "usd_rate 1,0812 is not a positive decimal with at most 6 places"),
        (GOOD | {"usd_rate": "1.0812345"}, "usd_rate 1.0812345 is not a positive decimal"),
        (GOOD | {"usd_rate": "-1.08"}, "usd_rate -1.08 is not a positive decimal"),
        (GOOD | {"usd_rate": "0"}, "usd_rate 0 is not a positive decimal"),
        (GOOD | {"date": "01/01/2025"}, "date 01/01/2025 is not YYYY-MM-DD (rule: date)"),
        (GOOD | {"currency": "euro"}, "currency euro is not a 3-letter code (rule: currency_code)"),
        (GOOD | {"date": "2025-03-01"}, "date 2025-03-01 is outside 2025-01-01..2025-02-28 (rule: in_range)"),
    ],
)
def test_a_bad_record_is_an_error_naming_page_record_and_rule(record, problem):
    with pytest.raises(ExchangeRatesPayloadError) as raised:
        page_rates({"data": [GOOD, record]}, 4, START, END, "URL")
    assert str(raised.value).startswith(f"GET URL: page 4: record 1: {problem}")


def test_a_numeric_rate_is_read_from_its_shortest_text():
    rates = page_rates({"data": [GOOD | {"usd_rate": 1.0812}]}, 1, START, END, "URL")
    assert rates["usd_rate"].cast(pl.String).to_list() == ["1.081200"]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"rates": []}, "page 2 has no 'data' list"),
        ({"data": ["2025-01-01,EUR,1.08"]}, "page 2: records are not JSON objects"),
    ],
)
def test_a_page_of_the_wrong_shape_is_an_error(document, problem):
    with pytest.raises(ExchangeRatesPayloadError, match=problem):
        page_rates(document, 2, START, END, "URL")


def test_pages_must_follow_one_another():
    assert next_page({"next_page": 3}, 2, "URL") == 3
    assert next_page({"next_page": None}, 2, "URL") is None
    with pytest.raises(ExchangeRatesPayloadError, match="page 2 says next_page 2, expected 3 or null"):
        next_page({"next_page": 2}, 2, "URL")
    with pytest.raises(ExchangeRatesPayloadError, match="page 2 has no 'next_page'"):
        next_page({"data": []}, 2, "URL")


def test_pages_are_combined_in_order_and_a_repeated_day_and_currency_is_an_error():
    first = page_rates({"data": [GOOD | {"currency": "GBP"}, GOOD]}, 1, START, END, "URL")
    second = page_rates({"data": [GOOD | {"date": "2024-12-31"}]}, 2, date(2024, 12, 1), END, "URL")
    assert all_pages([first, second], "API").select("date", "currency").rows() == [
        (date(2024, 12, 31), "EUR"),
        (date(2025, 1, 1), "EUR"),
        (date(2025, 1, 1), "GBP"),
    ]
    with pytest.raises(ExchangeRatesPayloadError) as raised:
        all_pages([first, first], "API")
    assert str(raised.value) == (
        "API: 4 records share a (date, currency), first 2025-01-01 GBP (rule: unique_date_currency)"
    )


def test_at_least_one_attempt():
    with pytest.raises(ValueError, match="max_attempts"):
        ExchangeRateApi(base_url="http://127.0.0.1:9", max_attempts=0)
