"""Simulated time: instants are int64 microseconds since the Unix epoch (UTC).

Day `d` of a simulation is the UTC day `start + d`. Text forms:

- `updated_at`, the shop database's system column: UTC, fixed width with microseconds, so that
  comparing the text is comparing the time (`2025-01-01T10:15:00.123456Z`);
- business timestamps (`signup_at`, `order_at`): the customer's local time with its UTC offset,
  to the second (`2025-03-01T10:15:00+01:00`);
- `settled_at` in the payment files: UTC to the second (`2025-01-02T06:00:00Z`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import polars as pl

MICROS_PER_DAY = 86_400 * 1_000_000


def day_start(start: date, day: int) -> int:
    """The instant (UTC midnight) at which simulated day `day` begins."""
    midnight = datetime.combine(start, time(), tzinfo=UTC)
    return int(midnight.timestamp()) * 1_000_000 + day * MICROS_PER_DAY


def _datetime(micros: pl.Expr) -> pl.Expr:
    return pl.from_epoch(micros, time_unit="us")


def utc_system_time(micros: pl.Expr) -> pl.Expr:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ`."""
    return _datetime(micros).dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")


def utc_seconds(micros: pl.Expr) -> pl.Expr:
    """`YYYY-MM-DDTHH:MM:SSZ`."""
    return _datetime(micros).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def local_time(micros: pl.Expr, offset_minutes: pl.Expr, offset_text: pl.Expr) -> pl.Expr:
    """`YYYY-MM-DDTHH:MM:SS+HH:MM`: the wall-clock time at the given UTC offset."""
    wall_clock = _datetime(micros) + pl.duration(minutes=offset_minutes)
    return wall_clock.dt.strftime("%Y-%m-%dT%H:%M:%S") + offset_text
