"""The exchange-rate API: daily currency -> USD rates, every page or an error, never a part.

`GET <base_url>/v1/rates?start=…&end=…&page=N&page_size=M` returns `{"data": [{"date",
"currency", "usd_rate"}, …], "next_page": N + 1 | null, …}`, rates as text (exact decimals).

Each request is retried on what may heal: a timeout, a lost connection, 429, any 5xx, and a body
that is not JSON (cut short on the way). The wait before retry n is the response's `Retry-After`
(seconds or an HTTP date) when it sends one, else exponential backoff with full jitter, a random
wait between 0 and `backoff_seconds * 2^(n-1)`; either capped at `max_backoff_seconds`. Any other
4xx is the request's own fault and fails at once. After `max_attempts` tries the fetch gives up.
Rows are returned only once every page has arrived and passed validation, so a caller never sees
a partial set of pages.

The provider publishes from `history_start` up to today (UTC): `published_days`. The simulated
provider (`lakehouse.simulator.exchange_api.SimulatedExchangeRateApi`) is this client too, over
real HTTP, with the simulation's days instead.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import dagster as dg
import polars as pl
import requests
from pydantic import Field

from lakehouse.lib.currency import RATE
from lakehouse.sources.errors import SourceSchemaError, SourceUnavailableError, redacted

RATES_PATH = "/v1/rates"
RATE_COLUMNS = {"date": pl.Date, "currency": pl.String, "usd_rate": RATE}
_DECIMAL = r"^\d{1,12}(\.\d{1,6})?$"  # what RATE holds exactly: no sign, exponent or 7th decimal
_CURRENCY = r"^[A-Z]{3}$"
PROBLEMS_SHOWN = 3
HISTORY_START = "2025-01-01"  # the simulated shop's first day

log = dg.get_dagster_logger(__name__)  # in a run, each retry shows in the Dagster event log


class ExchangeRatesUnavailableError(RuntimeError):
    """The API gave no usable answer within the attempts allowed; a later run may succeed."""


class ExchangeRatesRejectedError(SourceUnavailableError):
    """The API refused the request (a 4xx other than 429): asking again will not help."""


class ExchangeRatesPayloadError(SourceSchemaError):
    """A page breaks the API's contract (shape, a missing field, a rate that is not a decimal)."""


@dataclass(frozen=True)
class Transient:
    """A failed attempt that may heal: why, and how long the server asked us to wait."""

    reason: str
    retry_after: float | None = None


class ExchangeRateApi(dg.ConfigurableResource):
    """Client of the exchange-rate API at `base_url` (credentials in it are never logged)."""

    base_url: str
    timeout_seconds: float = 10.0
    max_attempts: int = Field(default=5, ge=1)
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    page_size: int = Field(default=500, ge=1)
    history_start: str = Field(default=HISTORY_START, description="First day to ingest (YYYY-MM-DD).")

    @property
    def source(self) -> str:
        """Where the rates come from, as raw records it (`_source`); credentials redacted."""
        return f"{redacted(self.base_url)}{RATES_PATH}"

    def published_days(self) -> tuple[date, date]:
        """The first and the last day to ingest: from `history_start` to today (UTC)."""
        return date.fromisoformat(self.history_start), datetime.now(UTC).date()

    def fetch_rates(self, start: date, end: date) -> pl.DataFrame:
        """Every rate from `start` to `end` (inclusive) by date and currency: all pages or an error."""
        return self.fetch_rates_from(self.base_url, start, end)

    def fetch_rates_from(self, base_url: str, start: date, end: date) -> pl.DataFrame:
        """`fetch_rates` from the API at `base_url`."""
        if end < start:
            raise ValueError(f"exchange rates: end {end} is before start {start}")
        pages: list[pl.DataFrame] = []
        page: int | None = 1
        with requests.Session() as session:
            while page is not None:
                url = page_url(base_url, start, end, page, self.page_size)
                document = self.get_json(session, url)
                pages.append(page_rates(document, page, start, end, redacted(url)))
                page = next_page(document, page, redacted(url))
        return all_pages(pages, f"{redacted(base_url)}{RATES_PATH} {start}..{end}")

    def get_json(self, session: requests.Session, url: str) -> Any:
        """The JSON document at `url`, retrying what may heal; the error names the URL and last failure."""
        for attempt in range(1, self.max_attempts + 1):
            outcome = self.attempt(session, url)
            if not isinstance(outcome, Transient):
                return outcome
            if attempt == self.max_attempts:
                break
            wait = self.wait_seconds(attempt, outcome.retry_after)
            log.warning(
                f"GET {redacted(url)}: {outcome.reason} (attempt {attempt} of {self.max_attempts}); "
                f"retrying in {wait:.2f} s"
            )
            time.sleep(wait)
        raise ExchangeRatesUnavailableError(
            f"GET {redacted(url)}: gave up after {self.max_attempts} attempts; last: {outcome.reason}"
        )

    def attempt(self, session: requests.Session, url: str) -> Any | Transient:
        """One request: its JSON document, a `Transient` failure, or `ExchangeRatesRejectedError`."""
        try:
            response = session.get(url, timeout=self.timeout_seconds)
        except requests.Timeout:
            return Transient(f"no answer within {self.timeout_seconds} s (timeout)")
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            return Transient(f"connection failed ({type(error).__name__})")
        status = f"{response.status_code} {response.reason}"
        if response.status_code == 429 or response.status_code >= 500:
            return Transient(status, retry_after_seconds(response.headers.get("Retry-After")))
        if response.status_code != 200:
            raise ExchangeRatesRejectedError(
                f"GET {redacted(url)}: {status}: {response.text[:200]} (not retried: the request is refused)"
            )
        try:
            return response.json()
        except requests.JSONDecodeError:
            return Transient(f"{status} with a body that is not JSON ({len(response.content)} bytes)")

    def wait_seconds(self, attempt: int, retry_after: float | None) -> float:
        """Before retry `attempt`: the server's `Retry-After`, else full jitter; capped either way."""
        if retry_after is not None:
            return min(retry_after, self.max_backoff_seconds)
        return random.uniform(0, backoff_ceiling(attempt, self.backoff_seconds, self.max_backoff_seconds))


def page_url(base_url: str, start: date, end: date, page: int, page_size: int) -> str:
    query = urlencode({"start": start, "end": end, "page": page, "page_size": page_size})
    return f"{base_url.rstrip('/')}{RATES_PATH}?{query}"


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """Longest full-jitter wait after failed attempt `attempt` (1-based): base * 2^(attempt-1) or cap."""
    return min(cap, base * 2 ** (attempt - 1))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A `Retry-After` header as seconds to wait: delay-seconds or an HTTP date; None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def page_rates(document: Any, page: int, start: date, end: date, url: str) -> pl.DataFrame:
    """The page's records, typed; an error naming the page, the record (its index in `data`) and the rule."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise ExchangeRatesPayloadError(f"GET {url}: page {page} has no 'data' list (rule: page_shape)")
    records = pl.Series("record", data, strict=False)
    if data and not isinstance(records.dtype, pl.Struct):
        raise ExchangeRatesPayloadError(
            f"GET {url}: page {page}: records are not JSON objects (rule: page_shape)"
        )
    checked = _record_text(records, page, url).with_columns(
        pl.col("date").str.to_date("%Y-%m-%d", strict=False).alias("_date"),
        pl.col("usd_rate").cast(RATE, strict=False).alias("_rate"),
    )
    problem = pl.coalesce(
        *(pl.when(pl.col(c).is_null()).then(pl.lit(f"missing {c} (rule: required)")) for c in RATE_COLUMNS),
        pl.when(pl.col("_date").is_null()).then(pl.format("date {} is not YYYY-MM-DD (rule: date)", "date")),
        pl.when(~pl.col("currency").str.contains(_CURRENCY)).then(
            pl.format("currency {} is not a 3-letter code (rule: currency_code)", "currency")
        ),
        pl.when(~pl.col("usd_rate").str.contains(_DECIMAL) | (pl.col("_rate") <= 0)).then(
            pl.format(
                "usd_rate {} is not a positive decimal with at most 6 places (rule: decimal_rate)", "usd_rate"
            )
        ),
        pl.when(~pl.col("_date").is_between(start, end)).then(
            pl.format(
                "date {} is outside {}..{} (rule: in_range)", "date", pl.lit(str(start)), pl.lit(str(end))
            )
        ),
    )
    bad = checked.with_row_index("record").select("record", problem.alias("problem")).drop_nulls("problem")
    if bad.height:
        shown = "; ".join(f"record {i}: {p}" for i, p in bad.head(PROBLEMS_SHOWN).iter_rows())
        more = f" (and {bad.height - PROBLEMS_SHOWN} more)" if bad.height > PROBLEMS_SHOWN else ""
        raise ExchangeRatesPayloadError(f"GET {url}: page {page}: {shown}{more}")
    return checked.select(pl.col("_date").alias("date"), "currency", pl.col("_rate").alias("usd_rate"))


def _record_text(records: pl.Series, page: int, url: str) -> pl.DataFrame:
    """The three fields of every record as text (a missing one null); numbers keep their shortest text."""
    if not isinstance(records.dtype, pl.Struct):  # no records at all
        return pl.DataFrame(schema=dict.fromkeys(RATE_COLUMNS, pl.String))
    fields = records.struct.unnest()
    try:
        return fields.select(
            pl.col(c).cast(pl.String) if c in fields.columns else pl.lit(None, pl.String).alias(c)
            for c in RATE_COLUMNS
        )
    except pl.exceptions.PolarsError as error:
        raise ExchangeRatesPayloadError(
            f"GET {url}: page {page}: a record field is not a scalar ({error}) (rule: page_shape)"
        ) from error


def all_pages(pages: list[pl.DataFrame], fetched: str) -> pl.DataFrame:
    """The pages' rates in one frame by date and currency; a (date, currency) on two records is an error."""
    rates = pl.concat(pages)
    repeated = rates.filter(pl.struct("date", "currency").is_duplicated())
    if repeated.height:
        first = repeated.row(0, named=True)
        raise ExchangeRatesPayloadError(
            f"{fetched}: {repeated.height} records share a (date, currency), first {first['date']} "
            f"{first['currency']} (rule: unique_date_currency)"
        )
    return rates.sort("date", "currency")


def next_page(document: dict[str, Any], page: int, url: str) -> int | None:
    """The next page to ask for: `page + 1`, or None after the last; anything else breaks the contract."""
    if "next_page" not in document:
        raise ExchangeRatesPayloadError(f"GET {url}: page {page} has no 'next_page' (rule: page_shape)")
    following = document["next_page"]
    if following is not None and following != page + 1:
        raise ExchangeRatesPayloadError(
            f"GET {url}: page {page} says next_page {following!r}, expected {page + 1} or null "
            "(rule: consecutive_pages)"
        )
    return following
