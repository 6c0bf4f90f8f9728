"""The simulated exchange-rate provider: a real HTTP server on localhost serving daily USD rates.

`GET /v1/rates?start=YYYY-MM-DD&end=YYYY-MM-DD&page=N&page_size=M` answers

    {"data": [{"date": "2025-01-01", "currency": "AUD", "usd_rate": "0.6520"}, ...],
     "start": "2025-01-01", "end": "2025-01-31", "page": 1, "page_size": 100, "total": 155,
     "next_page": 2}

with the rates of `exchange_rates.daily_rates` for the server's seed: rates as text (exact
decimals), rows ordered by date then currency, `next_page` null on the last page. Days after
`last_day` (when set) are not published yet, so a range reaching past it ends there. A bad
parameter is a 400 and any other path a 404, both with `{"error": ...}`.

`Faults` injects failures deterministically, for tests and demos: a script of faults answering the
first requests of each page (the same URL asked again counts as the next request), or one fault
forever; optionally only on some pages.

`SimulatedExchangeRateApi` is the lakehouse's default provider when no API is configured: the
real client, talking HTTP to this server, started for each fetch on a free port.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import polars as pl
from pydantic import Field

from lakehouse.simulator.exchange_rates import daily_rates, simulated_days
from lakehouse.simulator.state import read_params
from lakehouse.sources.exchange_rates import RATES_PATH, ExchangeRateApi

DEFAULT_PORT = 8765
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
POLL_SECONDS = 0.05  # how soon `stop` is noticed


class Fault(StrEnum):
    SLOW = "slow"  # the right answer, but only after `Faults.slow_seconds` (past a client's timeout)
    TOO_MANY_REQUESTS = "429"  # with a `Retry-After` header
    SERVER_ERROR = "500"
    UNAVAILABLE = "503"
    TRUNCATED = "truncated"  # 200 with the first half of the JSON body only


@dataclass(frozen=True)
class Faults:
    """Which requests fail and how. No faults: every request succeeds.

    - `script`: the n-th request for a URL is answered by `script[n - 1]`; later ones succeed.
    - `forever`: every request fails this way (the server never recovers).
    - `pages`: the pages both apply to; None means every page.
    - `retry_after`: the `Retry-After` value sent with a 429 (seconds or an HTTP date).
    """

    script: tuple[Fault, ...] = ()
    forever: Fault | None = None
    pages: frozenset[int] | None = None
    retry_after: str = "1"
    slow_seconds: float = 2.0

    def for_request(self, page: int, nth: int) -> Fault | None:
        if self.pages is not None and page not in self.pages:
            return None
        if self.forever is not None:
            return self.forever
        return self.script[nth - 1] if nth <= len(self.script) else None


@dataclass(frozen=True)
class Served:
    """One request as the server saw it: what was asked, when (monotonic seconds), how it was answered."""

    path: str
    page: int | None
    fault: Fault | None
    at: float


@dataclass(frozen=True)
class RatesQuery:
    start: date
    end: date
    page: int
    page_size: int

    @classmethod
    def parse(cls, query: str) -> RatesQuery:
        """The query string's parameters, or ValueError naming the one that is wrong."""
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        parsed = cls(
            start=_date_param(params, "start"),
            end=_date_param(params, "end"),
            page=_int_param(params, "page", 1, 1, None),
            page_size=_int_param(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        )
        if parsed.end < parsed.start:
            raise ValueError(f"end {parsed.end} is before start {parsed.start}")
        return parsed


def _date_param(params: dict[str, str], name: str) -> date:
    if name not in params:
        raise ValueError(f"missing parameter {name} (YYYY-MM-DD)")
    try:
        return date.fromisoformat(params[name])
    except ValueError:
        raise ValueError(f"parameter {name}={params[name]!r} is not a date (YYYY-MM-DD)") from None


def _int_param(params: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    text = params.get(name, str(default))
    if not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"parameter {name}={text!r} must be an integer {bounds}")
    return int(text)


def rates_page(query: RatesQuery, seed: int, last_day: date | None) -> dict[str, Any]:
    """The JSON document answering `query`."""
    end = query.end if last_day is None else min(query.end, last_day)
    rates = daily_rates(query.start, end, seed)
    first = (query.page - 1) * query.page_size
    rows = rates.slice(first, query.page_size).with_columns(pl.col("date", "usd_rate").cast(pl.String))
    return {
        "data": rows.to_dicts(),
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "page": query.page,
        "page_size": query.page_size,
        "total": rates.height,
        "next_page": query.page + 1 if first + query.page_size < rates.height else None,
    }


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], seed: int, last_day: date | None, faults: Faults) -> None:
        super().__init__(address, _Handler)
        self.seed, self.last_day, self.faults = seed, last_day, faults
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.asked: Counter[str] = Counter()
        self.served: list[Served] = []

    def fault_for(self, path: str, page: int) -> Fault | None:
        """The fault answering this request (counted per URL), recorded with it."""
        with self.lock:
            self.asked[path] += 1
            fault = self.faults.for_request(page, self.asked[path])
            self.served.append(Served(path, page, fault, time.monotonic()))
        return fault

    def record(self, path: str) -> None:
        with self.lock:
            self.served.append(Served(path, None, None, time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds an idle keep-alive connection holds its thread

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != RATES_PATH:
            self.server.record(self.path)
            return self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {url.path}"})
        try:
            query = RatesQuery.parse(url.query)
        except ValueError as error:
            self.server.record(self.path)
            return self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        fault = self.server.fault_for(self.path, query.page)
        if fault is Fault.SLOW and self.server.stopping.wait(self.server.faults.slow_seconds):
            return  # the server is stopping: no answer
        if fault is Fault.TOO_MANY_REQUESTS:
            headers = {"Retry-After": self.server.faults.retry_after}
            return self._send_json(HTTPStatus.TOO_MANY_REQUESTS, {"error": "slow down"}, headers)
        if fault in (Fault.SERVER_ERROR, Fault.UNAVAILABLE):
            return self._send_json(HTTPStatus(int(fault)), {"error": "try again later"})
        body = json.dumps(rates_page(query, self.server.seed, self.server.last_day)).encode()
        self._send(HTTPStatus.OK, body[: len(body) // 2] if fault is Fault.TRUNCATED else body)

    def _send_json(
        self, status: HTTPStatus, document: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(document).encode(), headers)

    def _send(self, status: HTTPStatus, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout): nobody to answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and `lakehouse simulate` read `ExchangeRateServer.served` instead."""


@dataclass
class ExchangeRateServer:
    """The API on `host:port` (port 0: any free port); `with` runs it in a background thread.

    >>> with ExchangeRateServer(seed=42) as server:
    ...     requests.get(f"{server.base_url}/v1/rates?start=2025-01-01&end=2025-01-31")
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 42
    last_day: date | None = None
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self._http = _HttpServer((self.host, self.port), self.seed, self.last_day, self.faults)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def served(self) -> list[Served]:
        """Every request so far, in arrival order."""
        with self._http.lock:
            return list(self._http.served)

    def serve_forever(self) -> None:
        self._http.serve_forever(poll_interval=POLL_SECONDS)

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, name="exchange-rate-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake slow answers, and release the port."""
        self._http.stopping.set()
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
        self._http.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    seed: int = 42,
    last_day: date | None = None,
    faults: Faults | None = None,
) -> None:
    """Serve the API in this thread until interrupted (what `lakehouse simulate` runs)."""
    server = ExchangeRateServer(host, port, seed, last_day, faults or Faults())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


class SimulatedExchangeRateApi(ExchangeRateApi):
    """The exchange-rate client of the simulation in `sources_dir` (where `state.json` is).

    Each fetch starts `ExchangeRateServer` on a free local port with the simulation's seed,
    publishing up to the simulation's last day, and stops it after: the client still talks real
    HTTP, the rates are the ones the ground truth converts with, and raw never holds a day the
    shop has not lived (the machine's clock is not the simulation's).
    """

    base_url: str = Field(default="", description="Unused: each fetch starts its own local server.")
    sources_dir: str = Field(description="The simulator's folder, holding its state.json.")

    @property
    def source(self) -> str:
        return f"simulated exchange-rate API (seed {read_params(Path(self.sources_dir)).seed}){RATES_PATH}"

    def published_days(self) -> tuple[date, date]:
        """The simulation's days: from its first to its last."""
        return simulated_days(read_params(Path(self.sources_dir)))

    def fetch_rates(self, start: date, end: date) -> pl.DataFrame:
        params = read_params(Path(self.sources_dir))
        with ExchangeRateServer(seed=params.seed, last_day=simulated_days(params)[1]) as server:
            return self.fetch_rates_from(server.base_url, start, end)
