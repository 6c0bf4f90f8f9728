from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assets_tests.simulator.helpers import EMAIL
from lakehouse.lib.currency import USD_RATES
from lakehouse.simulator.model import CATEGORIES, COUNTRIES, Sizes, build_world, per_day

START = date(2025, 1, 1)
UTC_SYSTEM_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
LOCAL_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$"


@pytest.fixture(scope="module")
def world() -> dict[str, pl.DataFrame]:
    return build_world(scale=0.01, seed=42, start=START, days=365)


def _utc_day(column: str) -> pl.Expr:
    """The simulation day of a UTC timestamp column."""
    return (pl.col(column).str.slice(0, 10).str.to_date() - pl.lit(START)).dt.total_days()


def test_rows_per_day_follow_the_cumulative_rate() -> None:
    counts = per_day(1_000, 730)

    assert counts.sum() == 2_000
    assert counts[:365].sum() == 1_000
    assert set(counts) == {2, 3}
    assert per_day(10, 365).sum() == 10


def test_sizes_scale_linearly_with_minimums_for_tiny_scales() -> None:
    assert Sizes.for_scale(1) == Sizes(50_000, 50_000, 10_000, 1_000_000)
    assert Sizes.for_scale(0.01) == Sizes(500, 500, 100, 10_000)
    assert Sizes.for_scale(0.00001) == Sizes(1, 1, len(CATEGORIES), 10)


def test_demo_sizes(world: dict[str, pl.DataFrame]) -> None:
    assert world["customers"].height == 1_000
    assert world["customers"].filter(pl.col("day") == 0).height == 500 + 1  # + day 0's signup
    assert world["products"].height == 100
    assert world["orders"].height == 10_000
    lines = world["order_items"].group_by("order_id").len()["len"]
    assert (lines.min(), lines.max()) == (1, 5)
    assert 2.9 < lines.mean() < 3.1
    assert world["payments"].height == world["orders"].filter(pl.col("day") < 364).height


def test_every_category_has_a_product_at_the_smallest_scale() -> None:
    products = build_world(scale=0.00001, seed=1, start=START, days=2)["products"]
    assert sorted(products["category"]) == sorted(CATEGORIES)


def test_timestamps_are_local_business_times_and_utc_system_times(
    world: dict[str, pl.DataFrame],
) -> None:
    customers, orders = world["customers"], world["orders"]
    assert customers["signup_at"].str.contains(LOCAL_TIME).all()
    assert orders["order_at"].str.contains(LOCAL_TIME).all()
    for table in ("customers", "products", "orders", "order_items"):
        assert world[table]["updated_at"].str.contains(UTC_SYSTEM_TIME).all(), table
    offsets = customers["signup_at"].str.slice(-6)
    expected = customers["country"].replace_strict({k: c.utc_offset for k, c in COUNTRIES.items()})
    assert (offsets == expected).all()
    # the local time and the UTC system time are the same instant
    signup = customers["signup_at"].str.to_datetime("%Y-%m-%dT%H:%M:%S%:z")
    system = customers["updated_at"].str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC")
    assert (signup == system.dt.truncate("1s")).all()


def test_half_the_customers_signed_up_before_the_simulation(
    world: dict[str, pl.DataFrame],
) -> None:
    day = world["customers"].select(_utc_day("updated_at"))["updated_at"]
    assert (day < 0).sum() == 500
    assert day.min() >= -365
    assert (day.filter(day >= 0) == world["customers"]["day"].filter(day >= 0)).all()


def test_emails_are_valid_once_trimmed_and_lowercased(world: dict[str, pl.DataFrame]) -> None:
    emails = world["customers"]["email"]
    assert emails.str.strip_chars().str.to_lowercase().str.contains(EMAIL).all()
    assert emails.str.contains("[A-Z]").sum() > 0
    assert (emails != emails.str.strip_chars()).sum() > 0
    assert emails.str.strip_chars().str.to_lowercase().n_unique() == emails.len()


def test_orders_use_the_currency_and_offset_of_their_customer(
    world: dict[str, pl.DataFrame],
) -> None:
    orders = world["orders"].join(world["customers"], on="customer_id", suffix="_customer")
    currency = orders["country"].replace_strict({k: c.currency for k, c in COUNTRIES.items()})
    assert orders.height == world["orders"].height
    assert (orders["currency"] == currency).all()
    assert (orders["order_at"].str.slice(-6) == orders["signup_at"].str.slice(-6)).all()
    assert set(orders["channel"]) == {"web", "mobile", "marketplace"}


def test_orders_are_placed_by_customers_who_already_signed_up(
    world: dict[str, pl.DataFrame],
) -> None:
    orders = world["orders"].join(world["customers"], on="customer_id", suffix="_customer")
    signed_up = orders["signup_at"].str.to_datetime("%Y-%m-%dT%H:%M:%S%:z")
    placed = orders["order_at"].str.to_datetime("%Y-%m-%dT%H:%M:%S%:z")
    assert (signed_up < placed).all()
    assert (orders["day_customer"] > 0).sum() > 0  # not only the customers from before day 0


def test_order_status_changes_two_days_after_the_order() -> None:
    days = 30
    orders = build_world(scale=0.01, seed=3, start=START, days=days)["orders"]
    orders = orders.with_columns(updated_day=_utc_day("updated_at"))

    settled = orders.filter(pl.col("day") <= days - 3)
    assert set(settled["status"]) == {"delivered", "cancelled", "returned"}
    assert (settled["updated_day"] == settled["day"] + 2).all()
    recent = orders.filter(pl.col("day") > days - 3)
    assert recent.height > 0
    assert set(recent["status"]) == {"placed"}
    assert (recent["updated_day"] == recent["day"]).all()


def test_final_statuses_follow_their_shares(world: dict[str, pl.DataFrame]) -> None:
    shares = world["orders"]["status"].value_counts(normalize=True).rows()
    share = dict(shares)
    assert share["delivered"] == pytest.approx(0.93, abs=0.01)
    assert share["cancelled"] == pytest.approx(0.05, abs=0.01)
    assert share["returned"] == pytest.approx(0.02, abs=0.01)
    assert share["placed"] == pytest.approx(2 / 365, abs=0.002)  # the last two days


def test_line_prices_are_product_prices_in_the_order_currency(
    world: dict[str, pl.DataFrame],
) -> None:
    rates = pl.DataFrame({"currency": list(USD_RATES), "rate": [float(r) for r in USD_RATES.values()]})
    lines = (
        world["order_items"]
        .join(world["orders"].select("order_id", "currency"), on="order_id")
        .join(world["products"].select("product_id", usd_price="unit_price"), on="product_id")
        .join(rates, on="currency")
    )
    assert lines.height == world["order_items"].height
    expected = (lines["usd_price"] / lines["rate"]).round(2)
    assert ((lines["unit_price"] - expected).abs() < 1e-9).all()
    cents = (lines["unit_price"] * 100).round().cast(pl.Int64) * lines["quantity"]
    discounted = lines["discount"] > 0
    assert ((lines["discount"] * 100).round().cast(pl.Int64) == (cents + 5) // 10).filter(discounted).all()
    assert discounted.mean() == pytest.approx(0.2, abs=0.02)
    assert lines["quantity"].min() >= 1


def test_payments_settle_each_order_the_day_after(world: dict[str, pl.DataFrame]) -> None:
    lines = world["order_items"].with_columns(
        net=(pl.col("unit_price") * pl.col("quantity") - pl.col("discount"))
    )
    amounts = lines.group_by("order_id").agg(expected=pl.col("net").sum().round(2))
    payments = (
        world["payments"]
        .join(amounts, on="order_id")
        .join(world["orders"].select("order_id", "currency", order_day="day"), on="order_id")
    )
    assert payments.height == world["payments"].height
    assert payments["payment_id"].n_unique() == payments.height
    assert ((payments["amount"].cast(pl.Float64) - payments["expected"]).abs() < 1e-6).all()
    assert (payments["currency"] == payments["currency_right"]).all()
    assert (payments["day"] == payments["order_day"] + 1).all()
    settled_day = payments.select(_utc_day("settled_at"))["settled_at"]
    assert (settled_day == payments["day"]).all()
    assert (payments["payment_id"] == "pay_" + payments["order_id"].cast(pl.String).str.zfill(9)).all()
    assert payments["amount"].str.contains(r"^\d+\.\d\d$").all()


def test_a_days_rows_do_not_depend_on_the_number_of_days() -> None:
    short = build_world(scale=0.002, seed=5, start=START, days=10)
    long = build_world(scale=0.002, seed=5, start=START, days=20)
    for table in ("customers", "products", "order_items", "payments"):
        assert short[table].equals(long[table].filter(pl.col("day") < 10)), table
    placed = ["order_id", "customer_id", "order_at", "currency", "channel", "day"]
    assert short["orders"].select(placed).equals(long["orders"].filter(pl.col("day") < 10).select(placed))
    assert not short["orders"]["status"].equals(long["orders"]["status"].head(short["orders"].height))
