from __future__ import annotations

from datetime import date

import polars as pl

from lakehouse.simulator.clock import (
    MICROS_PER_DAY,
    day_start,
    local_time,
    utc_seconds,
    utc_system_time,
)

NEW_YEAR = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z in microseconds


def test_day_start_is_utc_midnight() -> None:
    assert day_start(date(2025, 1, 1), 0) == NEW_YEAR
    assert day_start(date(2025, 1, 1), 2) == NEW_YEAR + 2 * MICROS_PER_DAY
    assert day_start(date(2025, 1, 1), -1) == NEW_YEAR - MICROS_PER_DAY


def test_text_forms_of_an_instant() -> None:
    instant = pl.lit(NEW_YEAR + 3_600_000_000 + 5_000_007)  # 01:00:05.000007Z
    frame = pl.select(
        system=utc_system_time(instant),
        seconds=utc_seconds(instant),
        new_york=local_time(instant, pl.lit(-300), pl.lit("-05:00")),
        sydney=local_time(instant, pl.lit(600), pl.lit("+10:00")),
    )
    assert frame.row(0) == (
        "2025-01-01T01:00:05.000007Z",
        "2025-01-01T01:00:05Z",
        "2024-12-31T20:00:05-05:00",
        "2025-01-01T11:00:05+10:00",
    )
