"""Deletes in the shop database: accounts closed, products discontinued, test records purged.

Soft deletes, drawn day by day (`np.random.default_rng([seed, DELETES_STREAM + stream, day])`):
a customer closes their account with probability `CLOSE_RATE_PER_YEAR` a year, a product is
discontinued with `DISCONTINUE_RATE_PER_YEAR`. Only rows that exist before the day can be deleted
on it, and on `FORCED_DAY` at least one of each table is, so that every scale shows them. A soft
delete sets `deleted_at` to an instant of that day and moves `updated_at` with it; the row stays.
Orders are left as they are, so the revenue totals do not change (the simulated shop draws an
order's customer and products without looking at deletes: a closed account or a discontinued
product may still appear on a later order).

Hard deletes: every `TEST_RECORD_EVERY_DAYS` days from `FORCED_DAY`, the shop's staff create a test
customer and a test product (ids from `TEST_ID_BASE`, never on an order) at noon, and purge them
`PURGE_AFTER_DAYS` later: their rows leave the database (`purged_day`). They are added after the
defects are drawn, so they carry none and shift no other row's draws.

Every decision of day d depends on days up to d only, so a day's deletes never change when later
days are simulated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from lakehouse.simulator.clock import MICROS_PER_DAY, day_start, local_time, utc_system_time
from lakehouse.simulator.model import DAYS_PER_YEAR, Sizes, Stream, day_rng
from lakehouse.simulator.state import Params

DELETES_STREAM = 20  # + the table's stream: the model uses 1-5, the clickstream 6
CLOSE_RATE_PER_YEAR = 0.03
DISCONTINUE_RATE_PER_YEAR = 0.03
FORCED_DAY = 1
TEST_RECORD_EVERY_DAYS = 30
PURGE_AFTER_DAYS = 7
TEST_ID_BASE = 900_000_000
PURGED_DAY = "purged_day"


Deletions = dict[str, tuple[np.ndarray, np.ndarray]]  # table: each row's deletion day and instant


def with_soft_deletes(
    world: dict[str, pl.DataFrame], params: Params, carried: tuple[int, Deletions] | None = None
) -> tuple[dict[str, pl.DataFrame], Deletions]:
    """The world with `deleted_at` on customers and products, set on the deleted ones; and the
    deletions drawn (`deletion_days`), which a later run can go on from (`carried`: the days
    they cover, and them)."""
    customers, products = world["customers"], world["products"]
    since, drawn = carried or (0, {})
    deletions = {
        "customers": deletion_days(
            params,
            Stream.CUSTOMERS,
            Sizes.for_scale(params.scale).customers_before,
            CLOSE_RATE_PER_YEAR,
            customers.height,
            since,
            drawn.get("customers"),
        ),
        "products": deletion_days(
            params,
            Stream.PRODUCTS,
            lambda _: products.height,
            DISCONTINUE_RATE_PER_YEAR,
            products.height,
            since,
            drawn.get("products"),
        ),
    }
    world = {**world, **{table: soft_deleted(world[table], *deletions[table]) for table in deletions}}
    return world, deletions


def deletion_days(
    params: Params,
    stream: Stream,
    existing: Callable[[int], int],
    rate_per_year: float,
    size: int,
    since: int = 0,
    drawn: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For rows 0..size-1: the day each is deleted (-1: never) and the instant, drawn day by day,
    from day `since` on (`drawn`: those of the days before, for the rows that existed then).

    Row i exists on day d when i < existing(d). On `FORCED_DAY`, when no row is drawn, the one
    with the smallest draw is deleted.
    """
    deleted_day = np.full(size, -1)
    instant = np.zeros(size, dtype=np.int64)
    if drawn is not None:
        deleted_day[: len(drawn[0])], instant[: len(drawn[1])] = drawn
    for day in range(since, params.days):
        rng = day_rng(params.seed, DELETES_STREAM + stream, day)
        candidates = np.flatnonzero(deleted_day[: existing(day)] < 0)
        draws = rng.random(len(candidates))
        deleted = candidates[draws < rate_per_year / DAYS_PER_YEAR]
        if day == FORCED_DAY and not len(deleted) and len(candidates):
            deleted = candidates[[np.argmin(draws)]]
        deleted_day[deleted] = day
        instant[deleted] = day_start(params.start, day) + rng.integers(0, MICROS_PER_DAY, len(deleted))
    return deleted_day, instant


def soft_deleted(frame: pl.DataFrame, deleted_day: np.ndarray, instant: np.ndarray) -> pl.DataFrame:
    """`deleted_at` set on the deleted rows, and `updated_at` moved to it."""
    deleted_at = pl.when(pl.Series(deleted_day) >= 0).then(utc_system_time(pl.lit(pl.Series(instant))))
    return frame.with_columns(deleted_at=deleted_at).with_columns(
        updated_at=pl.coalesce("deleted_at", "updated_at")
    )


def with_test_records(marked: dict[str, pl.DataFrame], params: Params) -> dict[str, pl.DataFrame]:
    """The marked customers and products with the test records created so far (`purged_day`:
    the day one left the database, null while it is there)."""
    days = pl.Series("day", range(FORCED_DAY, params.days, TEST_RECORD_EVERY_DAYS), dtype=pl.Int64)
    created = day_start(params.start, 0) + pl.col("day") * MICROS_PER_DAY + MICROS_PER_DAY // 2  # noon
    purge = pl.col("day") + PURGE_AFTER_DAYS
    common = pl.DataFrame(days).with_columns(
        id=TEST_ID_BASE + pl.int_range(1, days.len() + 1, dtype=pl.Int64),
        updated_at=utc_system_time(created),
        deleted_at=pl.lit(None, pl.String),
        defect=pl.lit(None, pl.String),
        noise=pl.lit(0, pl.Int64),
        purged_day=pl.when(purge < params.days).then(purge),
        signup_at=local_time(created, pl.lit(0), pl.lit("+00:00")),
    )
    tail = ("updated_at", "deleted_at", "day", "defect", "noise", PURGED_DAY)  # as every drawn row
    customers = common.select(
        pl.col("id").alias("customer_id"),
        pl.concat_str(pl.lit("test"), "id", pl.lit("@example.com")).alias("email"),
        pl.lit("Test").alias("first_name"),
        pl.lit("Account").alias("last_name"),
        pl.lit("US").alias("country"),
        "signup_at",
        *tail,
    )
    products = common.select(
        pl.col("id").alias("product_id"),
        pl.concat_str(pl.lit("TST-"), "id").alias("sku"),
        pl.lit("Test Listing").alias("name"),
        pl.lit("home").alias("category"),
        pl.lit(1.0).alias("unit_price"),
        *tail,
    )
    return {
        **marked,
        "customers": pl.concat([marked["customers"], customers], how="diagonal_relaxed"),
        "products": pl.concat([marked["products"], products], how="diagonal_relaxed"),
    }


def present(marked: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The frames without the purged rows: what the database holds."""
    return {
        table: frame.filter(pl.col(PURGED_DAY).is_null()).drop(PURGED_DAY)
        if PURGED_DAY in frame.columns
        else frame
        for table, frame in marked.items()
    }


def deleted_keys(marked: dict[str, pl.DataFrame]) -> dict[str, dict[str, dict[str, object]]]:
    """Per table, the soft-deleted keys with their `deleted_at`, the purged keys with their day."""
    return {
        table: {
            "soft": _by_key(marked[table].filter(pl.col("deleted_at").is_not_null()), key, "deleted_at"),
            "hard": _by_key(marked[table].filter(pl.col(PURGED_DAY).is_not_null()), key, PURGED_DAY),
        }
        for table, key in (("customers", "customer_id"), ("products", "product_id"))
    }


def _by_key(frame: pl.DataFrame, key: str, value: str) -> dict[str, object]:
    return dict(frame.select(pl.col(key).cast(pl.String), value).rows())
