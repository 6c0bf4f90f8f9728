"""Which days an incremental fact build rebuilds."""

from datetime import UTC, date, datetime

import polars as pl

from lakehouse.defs.curated.facts import order_days_to_rebuild
from lakehouse.lib.incremental import changed_since, days, watermarks

T1, T2, T3 = (datetime(2025, 1, d, tzinfo=UTC) for d in (1, 2, 3))
D1, D2, D3, D4 = (date(2025, 1, d) for d in (1, 2, 3, 4))


def orders() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "order_id": [1, 2, 3, 4],
            "customer_id": [10, 10, 10, 10],
            "order_date": [D1, D2, D3, D4],
            "currency": ["EUR", "EUR", "EUR", "GBP"],
            "_refined_at": [T1, T1, T2, T1],
        }
    )


def rates(changed: list[tuple[date, str]] = ()) -> pl.LazyFrame:
    """A rate for every day and currency, refined at T1; those in `changed` refined (again) at T3."""
    days_and_currencies = [(d, c) for d in (D1, D2, D3, D4) for c in ("EUR", "GBP")]
    return pl.LazyFrame(
        {
            "date": [d for d, _ in days_and_currencies],
            "currency": [c for _, c in days_and_currencies],
            "_refined_at": [T3 if key in changed else T1 for key in days_and_currencies],
        }
    )


def items() -> pl.LazyFrame:
    return pl.LazyFrame(
        {"order_id": [1, 2, 3, 4], "product_id": [7, 7, 7, 8], "_refined_at": [T1, T2, T1, T1]}
    )


def built_fact() -> pl.LazyFrame:
    """The fact as built at T1: order 4's product was unknown then (key -1)."""
    return pl.LazyFrame(
        {
            "order_id": [1, 2, 3, 4],
            "order_date": [D1, D2, D3, D4],
            "customer_id": [10, 10, 10, 10],
            "product_id": [7, 7, 7, 8],
            "customer_key": [10, 10, 10, 10],
            "product_key": [7, 7, 7, -1],
            "_line_refined_at": [T1] * 4,
            "_order_refined_at": [T1] * 4,
            "_built_at": [T2] * 4,
        }
    )


def dims(products: list[int], customers_refined_at: datetime = T1) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Customer 10 and the products, refined at T1 (products 8 and above at T3: arrived late)."""
    return (
        pl.LazyFrame({"customer_id": [10], "_refined_at": [customers_refined_at]}),
        pl.LazyFrame({"product_id": products, "_refined_at": [T3 if p >= 8 else T1 for p in products]}),
    )


def test_first_build_rebuilds_every_day():
    customers, products = dims([7])
    assert order_days_to_rebuild(None, items(), orders(), rates(), customers, products) is None


def test_days_of_changed_orders_and_changed_lines_are_rebuilt():
    customers, products = dims([7])
    # Order 3 changed (T2) and order 2's line changed (T2); day 4's product is still unknown.
    assert order_days_to_rebuild(built_fact(), items(), orders(), rates(), customers, products) == [D2, D3]


def test_a_late_arriving_dimension_row_rebuilds_the_days_on_the_unknown_member():
    customers, products = dims([7, 8])
    assert order_days_to_rebuild(built_fact(), items(), orders(), rates(), customers, products) == [
        D2,
        D3,
        D4,
    ]


def test_a_customer_with_a_new_version_rebuilds_the_days_of_its_orders():
    """Refined after the fact was built: its orders may now belong to another version."""
    customers, products = dims([7], customers_refined_at=T3)
    fact = built_fact().with_columns(
        pl.lit(T2).alias("_line_refined_at"), pl.lit(T2).alias("_order_refined_at")
    )
    assert order_days_to_rebuild(fact, items(), orders(), rates(), customers, products) == [D1, D2, D3, D4]


def test_nothing_changed_rebuilds_nothing():
    customers, products = dims([7])
    fact = built_fact().with_columns(
        pl.lit(T2).alias("_line_refined_at"), pl.lit(T2).alias("_order_refined_at")
    )
    assert order_days_to_rebuild(fact, items(), orders(), rates(), customers, products) == []


def test_a_rate_refined_after_the_fact_was_built_rebuilds_the_days_with_orders_in_its_currency():
    """New, restated, or the one a held-back line waited for: all are rates refined after `_built_at`."""
    customers, products = dims([7])
    changed = rates([(D1, "EUR"), (D4, "EUR"), (D4, "GBP")])
    fact = built_fact().with_columns(
        pl.lit(T2).alias("_line_refined_at"), pl.lit(T2).alias("_order_refined_at")
    )
    # Day 1 has an EUR order, day 4 a GBP one; day 4's EUR rate alone would rebuild nothing.
    assert order_days_to_rebuild(fact, items(), orders(), changed, customers, products) == [D1, D4]
    assert order_days_to_rebuild(fact, items(), orders(), rates([(D4, "EUR")]), customers, products) == []


def test_helpers():
    assert watermarks(None, ["_x"]) is None
    assert watermarks(pl.LazyFrame({"_x": [T1, T3]}), ["_x"]) == {"_x": T3}
    assert changed_since(orders(), T1).collect().get_column("order_id").to_list() == [3]
    assert changed_since(orders(), None).collect().height == 4
    assert days(pl.LazyFrame({"a": [D2, D1]}), pl.LazyFrame({"b": [D2]})) == [D1, D2]


def test_an_order_that_moved_day_rebuilds_its_old_day_too():
    customers, products = dims([7])
    moved = orders().with_columns(
        pl.when(pl.col("order_id") == 1).then(pl.lit(D3)).otherwise(pl.col("order_date")).alias("order_date"),
        pl.when(pl.col("order_id") == 1)
        .then(pl.lit(T2))
        .otherwise(pl.col("_refined_at"))
        .alias("_refined_at"),
    )
    # Order 1 was on day 1 in the fact and is now on day 3: both days are rebuilt.
    assert order_days_to_rebuild(built_fact(), items(), moved, rates(), customers, products) == [D1, D2, D3]
