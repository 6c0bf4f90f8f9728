"""Which days an incremental fact build rebuilds."""

from datetime import UTC, date, datetime, timedelta

import polars as pl

from lakehouse.defs.curated.facts import order_days_to_rebuild
from lakehouse.lib.incremental import REBUILD_FROM, changed_members, changed_since, days, one_of, watermarks
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.reads import PinnedTable

T1, T2, T3 = (datetime(2025, 1, d, tzinfo=UTC) for d in (1, 2, 3))
D1, D2, D3, D4 = (date(2025, 1, d) for d in (1, 2, 3, 4))
SINCE_2024 = datetime(2024, 12, 1, tzinfo=UTC)
NOON = [datetime(d.year, d.month, d.day, 12, tzinfo=UTC) for d in (D1, D2, D3, D4)]


def orders() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "order_id": [1, 2, 3, 4],
            "customer_id": [10, 10, 10, 10],
            "order_date": [D1, D2, D3, D4],
            "order_at": NOON,
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


def dimension(key: str, versions: dict[int, list[tuple[datetime, datetime]]]) -> pl.LazyFrame:
    """An SCD2 dimension: per member, its versions as (valid from, refined at) of the change event
    that started each; every version carries the member's newest refinement (type 1)."""
    rows = [
        {
            key: member,
            "valid_from": start,
            "is_deleted": False,
            "_changes": [{"updated_at": start, "_refined_at": refined}],
            "_refined_at": max(r for _, r in changes),
        }
        for member, changes in versions.items()
        for start, refined in changes
    ]
    return pl.LazyFrame(rows)


def dims(
    products: list[int], customer_versions: list[tuple[datetime, datetime]] = ((SINCE_2024, T1),)
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Customer 10 (known since 2024, refined at T1) and the products, known since 2024 and refined
    at T1 (products 8 and above refined at T3: arrived late)."""
    return (
        dimension("customer_id", {10: list(customer_versions)}),
        dimension("product_id", {p: [(SINCE_2024, T3 if p >= 8 else T1)] for p in products}),
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


def test_a_customer_with_a_new_version_rebuilds_the_days_of_its_orders_from_the_version_on():
    """Refined after the fact was built, valid from day 3 noon: the orders from then on may belong to
    it; those before keep their version, so their days are not rebuilt."""
    customers, products = dims([7], customer_versions=[(SINCE_2024, T1), (NOON[2], T3)])
    fact = built_fact().with_columns(
        pl.lit(T2).alias("_line_refined_at"), pl.lit(T2).alias("_order_refined_at")
    )
    assert order_days_to_rebuild(fact, items(), orders(), rates(), customers, products) == [D3, D4]


def test_a_change_dated_before_a_member_s_history_rebuilds_all_its_days():
    """A change dated before the first known version starts the history anew: every order (older
    ones take the first version) may point elsewhere."""
    customers, products = dims([7], customer_versions=[(datetime(2024, 11, 1, tzinfo=UTC), T3)])
    fact = built_fact().with_columns(
        pl.lit(T2).alias("_line_refined_at"), pl.lit(T2).alias("_order_refined_at")
    )
    assert order_days_to_rebuild(fact, items(), orders(), rates(), customers, products) == [D1, D2, D3, D4]


def test_changed_members_rebuild_from_their_earliest_new_change():
    dim = dimension(
        "customer_id",
        {
            1: [(SINCE_2024, T1), (NOON[1], T3), (NOON[2], T3)],  # two new versions: from the first
            2: [(NOON[0], T3)],  # new member: all its facts
            3: [(SINCE_2024, T1), (NOON[3], T1)],  # nothing new
            -1: [(SINCE_2024, T3)],  # the unknown member is never a changed member
        },
    )
    changed = changed_members(dim, T2, "customer_id").sort("customer_id").collect()
    assert changed.rows() == [(1, NOON[1]), (2, None)]
    assert changed.columns == ["customer_id", REBUILD_FROM]


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


def test_a_pinned_tables_watermarks_come_exact_from_its_log_statistics(tmp_path):
    """The log keeps timestamps to the millisecond: two files whose newest values share one
    millisecond have equal statistics, and the watermark is still the newest to the microsecond."""
    uri = str(tmp_path / "fact")
    micro = timedelta(microseconds=1)
    for stamps, day in (([T1, T2 + 900 * micro], D1), ([T2 + 500 * micro], D3), ([T1], D2)):
        frame = pl.DataFrame({"_built_at": stamps, "order_date": [day] * len(stamps)})
        frame.write_delta(uri, mode="append")
    pinned = PinnedTable("curated/fact", uri, delta_tables.version(uri))

    assert len(pinned.add_actions()) == 3
    newest = {"_built_at": T2 + 900 * micro, "order_date": D3}
    assert watermarks(pinned, ["_built_at", "order_date"]) == newest
    assert watermarks(PinnedTable("curated/fact", str(tmp_path / "none"), None), ["_built_at"]) is None


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


def test_one_of_keeps_exactly_the_chosen_values_and_nothing_for_none():
    rows = pl.LazyFrame({"day": [date(2025, 1, d) for d in (1, 2, 3, 4, 5)], "n": [1, 2, 3, 4, 5]})

    chosen = rows.filter(one_of("day", [date(2025, 1, 4), date(2025, 1, 2)]))
    assert chosen.collect()["n"].to_list() == [2, 4]
    assert rows.filter(one_of("n", pl.Series([5, 1]))).collect()["n"].to_list() == [1, 5]
    assert rows.filter(one_of("day", [])).collect().height == 0
