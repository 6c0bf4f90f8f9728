"""Facts: order lines with money in local currency and USD at the rate of the order day, keyed to
the dimensions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest

from assets_tests.defs.curated.support import output_of
from lakehouse.defs.curated.facts import (
    FACT_ORDER_ITEMS,
    FACT_PAYMENTS,
    SETTLED_DATE,
    days_of_changed_rates,
    earliest_change_day,
    fact_order_items,
    fact_payments,
    lines_of_changed,
    order_lines,
    replacing_by_days,
    settled_on,
)
from lakehouse.lib.incremental import REBUILD_FROM
from lakehouse.lib.quality.run_warnings import HELD_BACK
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import REPLACED_SLICES, WriteSpec

MONEY = pl.Decimal(18, 2)
RATE = pl.Decimal(18, 6)
AT = datetime(2025, 1, 1, 23, 30, tzinfo=UTC)
DAY1, DAY2 = date(2025, 1, 1), date(2025, 1, 2)


def rates(rows: list[tuple[date, str, str]], refined_at: datetime = AT) -> pl.LazyFrame:
    """Refined exchange rates: (day, currency, rate) rows, refined at `refined_at`."""
    return pl.LazyFrame(
        {
            "date": [d for d, _, _ in rows],
            "currency": [c for _, c, _ in rows],
            "usd_rate": [Decimal(r) for _, _, r in rows],
            "_refined_at": [refined_at] * len(rows),
        },
        schema_overrides={"usd_rate": RATE},
    )


# The order day's rates; the next day's differ, and must not be used.
DAY1_RATES = [(DAY1, "EUR", "1.08"), (DAY1, "GBP", "1.27"), (DAY1, "USD", "1")]
RATES = rates([*DAY1_RATES, (DAY2, "EUR", "1.12"), (DAY2, "GBP", "1.3"), (DAY2, "USD", "1")])


def items() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "order_id": [1, 1, 2, 3, 4],
            "line_no": [1, 2, 1, 1, 1],
            "product_id": [7, 8, 7, 99, 7],
            "quantity": [3, 1, 2, 1, 1],
            "unit_price": [
                Decimal("10.25"),
                Decimal("5.00"),
                Decimal("1.10"),
                Decimal("20.00"),
                Decimal("9.99"),
            ],
            "discount": [Decimal("1.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.50"), Decimal("0.00")],
            "_refined_at": [AT] * 5,
        },
        schema_overrides={"unit_price": MONEY, "discount": MONEY},
    )


def orders() -> pl.LazyFrame:
    """Orders 1-3 refined; order 4 is still in quarantine, so its line must be held back."""
    return pl.LazyFrame(
        {
            "order_id": [1, 2, 3],
            "customer_id": [10, 11, 12],
            "order_at": [AT] * 3,
            "order_date": [date(2025, 1, 1)] * 3,
            "status": ["placed", "delivered", "cancelled"],
            "currency": ["EUR", "USD", "GBP"],
            "channel": ["web", "app", "web"],
            "updated_at": [AT] * 3,
            "_refined_at": [AT] * 3,
        }
    )


def versions(frame: dict[str, list], valid_from: list[datetime] | None = None) -> pl.LazyFrame:
    """Dimension rows, each its member's only version unless `valid_from` says otherwise, each with
    the change event that started it (refined at AT)."""
    size = len(next(iter(frame.values())))
    return (
        pl.LazyFrame(frame)
        .with_columns(
            pl.Series("valid_from", valid_from or [datetime(1970, 1, 1, tzinfo=UTC)] * size),
            is_deleted=pl.lit(False),
            _refined_at=pl.lit(AT),
        )
        .with_columns(_changes=pl.concat_list(pl.struct(updated_at="valid_from", _refined_at="_refined_at")))
    )


CUSTOMERS = versions(
    {"customer_key": [-1, 10, 11], "customer_id": [-1, 10, 11], "country": ["unknown", "DE", "US"]}
)
PRODUCTS = versions(
    {"product_key": [-1, 7, 8], "product_id": [-1, 7, 8], "category": ["unknown", "toys", "books"]}
)


@pytest.fixture(scope="module")
def lines() -> pl.DataFrame:
    return order_lines(items(), orders(), RATES).collect().sort("order_id", "line_no")


def test_order_lines_hold_back_lines_whose_order_is_not_refined(lines):
    assert lines.select("order_id", "line_no").rows() == [(1, 1), (1, 2), (2, 1), (3, 1)]


def test_order_lines_compute_exact_local_and_usd_money(lines):
    money = lines.select(
        "gross_amount", "discount_amount", "net_amount", "usd_rate", "gross_usd", "discount_usd", "net_usd"
    )
    d = Decimal
    assert money.rows() == [
        # 3 x 10.25 EUR at 1.08, 1.00 EUR discount
        (d("30.75"), d("1.00"), d("29.75"), d("1.080000"), d("33.21"), d("1.08"), d("32.13")),
        (d("5.00"), d("0.00"), d("5.00"), d("1.080000"), d("5.40"), d("0.00"), d("5.40")),
        (d("2.20"), d("0.00"), d("2.20"), d("1.000000"), d("2.20"), d("0.00"), d("2.20")),
        # 20.00 GBP at 1.27 = 25.40; 0.50 GBP = 0.635 -> 0.64 (rounded once, to cents)
        (d("20.00"), d("0.50"), d("19.50"), d("1.270000"), d("25.40"), d("0.64"), d("24.76")),
    ]
    assert (lines.schema["gross_usd"], lines.schema["discount_usd"]) == (MONEY, MONEY)


def test_each_line_takes_the_rate_of_its_own_order_day():
    next_day = orders().with_columns(
        pl.when(pl.col("order_id") == 1).then(pl.lit(DAY2)).otherwise("order_date").alias("order_date")
    )
    converted = order_lines(items(), next_day, RATES).collect().sort("order_id", "line_no")
    assert converted.select("order_id", "order_date", "usd_rate", "net_usd").rows() == [
        (1, DAY2, Decimal("1.120000"), Decimal("33.32")),  # 30.75 x 1.12 - 1.00 x 1.12
        (1, DAY2, Decimal("1.120000"), Decimal("5.60")),
        (2, DAY1, Decimal("1.000000"), Decimal("2.20")),
        (3, DAY1, Decimal("1.270000"), Decimal("24.76")),
    ]


def build(store: DeltaStore, rates: pl.LazyFrame, customers: pl.LazyFrame = CUSTOMERS) -> dg.Output:
    return output_of(
        fact_order_items,
        context=dg.build_asset_context(),
        store=store,
        items=items(),
        orders=orders(),
        rates=rates,
        customers=customers,
        products=PRODUCTS,
    )


@pytest.fixture
def fact(tmp_path) -> pl.DataFrame:
    """A first build: no fact table yet, so every day is built."""
    return build(DeltaStore(root=str(tmp_path)), RATES).value


def test_fact_order_items_keys_lines_to_dimensions_with_unknown_members(fact):
    rows = fact.sort("order_id", "line_no").select("order_id", "line_no", "customer_key", "product_key")
    assert rows.rows() == [(1, 1, 10, 7), (1, 2, 10, 8), (2, 1, 11, 7), (3, 1, -1, -1)]


def test_fact_order_items_keys_a_line_to_the_customer_version_valid_at_its_order_time(tmp_path):
    """Customer 10 moved from DE (key 100) to FR (key 200) before order 1; to GB (300) after it."""
    moved = versions(
        {"customer_key": [-1, 100, 200, 300, 11], "customer_id": [-1, 10, 10, 10, 11]},
        valid_from=[
            AT - timedelta(days=9),
            AT - timedelta(days=2),
            AT - timedelta(seconds=1),
            AT + timedelta(seconds=1),
            AT,
        ],
    )

    fact = build(DeltaStore(root=str(tmp_path)), RATES, moved).value

    assert fact.sort("order_id", "line_no").select("order_id", "customer_key").rows() == [
        (1, 200),
        (1, 200),
        (2, 11),
        (3, -1),
    ]


def test_fact_order_items_carries_the_order_header_and_date_key(fact):
    row = fact.filter(pl.col("order_id") == 1, pl.col("line_no") == 1).row(0, named=True)
    assert {
        k: row[k] for k in ("order_date_key", "order_date", "order_at", "order_status", "channel", "currency")
    } == {
        "order_date_key": 20250101,
        "order_date": date(2025, 1, 1),
        "order_at": AT,
        "order_status": "placed",
        "channel": "web",
        "currency": "EUR",
    }
    assert fact.columns == [
        "order_id",
        "line_no",
        "order_date_key",
        "order_date",
        "order_month",
        "order_at",
        "customer_key",
        "product_key",
        "customer_id",
        "product_id",
        "order_status",
        "channel",
        "currency",
        "quantity",
        "unit_price",
        "gross_amount",
        "discount_amount",
        "net_amount",
        "usd_rate",
        "gross_usd",
        "discount_usd",
        "net_usd",
        "_line_refined_at",
        "_order_refined_at",
        "_built_at",
    ]


def refined_payments(rows: list[tuple[str, datetime, str, str]], refined_at: datetime = AT) -> pl.LazyFrame:
    """Refined payments: (id, settled_at, currency, amount) rows, refined at `refined_at`."""
    return pl.LazyFrame(
        {
            "payment_id": [r[0] for r in rows],
            "order_id": list(range(1, len(rows) + 1)),
            "settled_at": [r[1] for r in rows],
            "method": ["card"] * len(rows),
            "currency": [r[2] for r in rows],
            "amount": [Decimal(r[3]) for r in rows],
            "_refined_at": [refined_at] * len(rows),
        },
        schema_overrides={"amount": MONEY},
    )


def write_payments(store: DeltaStore, payments: pl.LazyFrame, rates: pl.LazyFrame) -> dg.Output:
    """Build the payment fact and write it the way the IO manager does."""
    output = output_of(
        fact_payments,
        context=dg.build_asset_context(),
        store=store,
        payments=payments,
        rates=rates,
        orders=orders(),
        customers=CUSTOMERS,
    )
    spec = WriteSpec.from_metadata(fact_payments.specs_by_key[FACT_PAYMENTS].metadata)
    slices = output.metadata.get(REPLACED_SLICES)
    frame = output.value
    delta_tables.write(store.uri(FACT_PAYMENTS), frame, spec, {}, None if slices is None else slices.value)
    return output


def payment_rows(store: DeltaStore) -> list[tuple]:
    columns = ("payment_id", "settled_date", "usd_rate", "amount_usd")
    return store.scan(FACT_PAYMENTS).select(columns).sort("payment_id").collect().rows()


def test_fact_payments_converts_at_the_rate_of_the_utc_settlement_day(tmp_path):
    # settled just after midnight UTC: day 2's rate (1.12), not day 1's
    payments = refined_payments([("pay_1", datetime(2025, 1, 2, 0, 5, tzinfo=UTC), "EUR", "12.34")])

    store = DeltaStore(root=str(tmp_path))
    out = output_of(
        fact_payments,
        context=dg.build_asset_context(),
        store=store,
        payments=payments,
        rates=RATES,
        orders=orders(),
        customers=CUSTOMERS,
    )
    out = out.value

    assert out.drop("_built_at").rows(named=True) == [
        {
            "payment_id": "pay_1",
            "order_id": 1,
            "customer_key": 10,  # order 1's customer
            "customer_id": 10,
            "settled_date_key": 20250102,
            "settled_date": date(2025, 1, 2),
            "settled_at": datetime(2025, 1, 2, 0, 5, tzinfo=UTC),
            "method": "card",
            "currency": "EUR",
            "amount": Decimal("12.34"),
            "usd_rate": Decimal("1.120000"),
            "amount_usd": Decimal("13.82"),  # 12.34 x 1.12 = 13.8208
            "_refined_at": AT,
        }
    ]


def test_a_payment_takes_the_customer_version_of_its_order_time_or_the_unknown_member(tmp_path):
    """Customer 10 moved to FR (key 200) after order 1 was placed; order 4 is not refined."""
    moved = versions(
        {"customer_key": [-1, 100, 200], "customer_id": [-1, 10, 10]},
        valid_from=[datetime(1970, 1, 1, tzinfo=UTC), AT - timedelta(days=1), AT + timedelta(hours=1)],
    )
    settled = datetime(2025, 1, 2, 9, tzinfo=UTC)
    payments = refined_payments([("pay_1", settled, "EUR", "1.00"), ("pay_4", settled, "EUR", "1.00")])
    payments = payments.with_columns(order_id=pl.Series([1, 4]))

    out = output_of(
        fact_payments,
        context=dg.build_asset_context(),
        store=DeltaStore(root=str(tmp_path)),
        payments=payments,
        rates=RATES,
        orders=orders(),
        customers=moved,
    ).value

    assert out.select("payment_id", "customer_key", "customer_id").rows() == [
        ("pay_1", 100, 10),
        ("pay_4", -1, None),
    ]


def test_a_payment_resent_with_a_later_day_moves_instead_of_doubling(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    pay_1 = ("pay_1", datetime(2025, 1, 2, tzinfo=UTC), "USD", "1.00")
    pay_2 = ("pay_2", *pay_1[1:])
    all_days = rates([(date(2025, 1, d), "USD", "1") for d in range(1, 8)])
    write_payments(store, refined_payments([pay_1, pay_2]), all_days)
    resent = ("pay_1", datetime(2025, 1, 7, tzinfo=UTC), "USD", "1.00")  # settled later
    write_payments(
        store,
        pl.concat([refined_payments([resent], AT + timedelta(days=1)), refined_payments([pay_2])]),
        all_days,
    )

    moved = [(p, d) for p, d, _, _ in payment_rows(store)]
    assert moved == [("pay_1", date(2025, 1, 7)), ("pay_2", date(2025, 1, 2))]


def test_a_payment_waits_for_its_rate_and_a_restated_rate_reaches_it_like_a_full_rebuild(tmp_path):
    """Built without day 2's GBP rate, then GBP arrives and day 1's EUR is restated."""
    payments = refined_payments(
        [
            ("pay_1", datetime(2025, 1, 1, 9, tzinfo=UTC), "EUR", "10.00"),
            ("pay_2", datetime(2025, 1, 2, 9, tzinfo=UTC), "GBP", "10.00"),
            ("pay_3", datetime(2025, 1, 2, 10, tzinfo=UTC), "USD", "10.00"),
        ]
    )
    store = DeltaStore(root=str(tmp_path / "incremental"))
    first = write_payments(store, payments, rates([*DAY1_RATES, (DAY2, "USD", "1")]))
    assert first.metadata["payments_waiting_for_rate"].value == 1
    assert [p for p, *_ in payment_rows(store)] == ["pay_1", "pay_3"]

    later = datetime.now(UTC)  # refined after the fact was built, before it is built again
    changed = rates([(DAY2, "GBP", "1.3"), (DAY1, "EUR", "1.09")], refined_at=later)
    now = pl.concat([rates([(DAY1, "GBP", "1.27"), (DAY1, "USD", "1"), (DAY2, "USD", "1")]), changed])
    incremental = write_payments(store, payments, now)
    assert incremental.metadata[REPLACED_SLICES].value == ["2025-01-01", "2025-01-02"]
    assert incremental.metadata["payments_waiting_for_rate"].value == 0

    full = DeltaStore(root=str(tmp_path / "full"))
    write_payments(full, payments, now)
    assert (
        payment_rows(store)
        == payment_rows(full)
        == [
            ("pay_1", DAY1, Decimal("1.090000"), Decimal("10.90")),
            ("pay_2", DAY2, Decimal("1.300000"), Decimal("13.00")),
            ("pay_3", DAY2, Decimal("1.000000"), Decimal("10.00")),
        ]
    )
    again = output_of(
        fact_payments,
        context=dg.build_asset_context(),
        store=store,
        payments=payments,
        rates=now,
        orders=orders(),
        customers=CUSTOMERS,
    )
    assert again.metadata[REPLACED_SLICES].value == []


def write(store: DeltaStore, output: dg.Output) -> None:
    """Write a fact build the way the IO manager does: all days, or only the rebuilt ones."""
    spec = WriteSpec.from_metadata(fact_order_items.specs_by_key[FACT_ORDER_ITEMS].metadata)
    slices = output.metadata.get(REPLACED_SLICES)
    delta_tables.write(
        store.uri(FACT_ORDER_ITEMS),
        output.value,
        spec,
        {},
        None if slices is None else slices.value,
    )


def content(store: DeltaStore) -> pl.DataFrame:
    return store.scan(FACT_ORDER_ITEMS).select(pl.exclude("^_.*$")).sort("order_id", "line_no").collect()


def test_a_line_without_the_rate_of_its_day_is_held_back_and_reported(tmp_path):
    no_gbp = rates([(DAY1, "EUR", "1.08"), (DAY1, "USD", "1")])

    output = build(DeltaStore(root=str(tmp_path)), no_gbp)

    # Order 3 (GBP) is held back, not left unconverted and not guessed from another day.
    assert output.value.select("order_id").unique().sort("order_id").to_series().to_list() == [1, 2]
    assert output.metadata["orders_waiting_for_rate"].value == 1


def test_a_rate_that_arrives_or_is_restated_rebuilds_its_days_like_a_full_rebuild(tmp_path):
    """The fact built without GBP, then GBP arrives and EUR is restated: only those days rebuild."""
    store = DeltaStore(root=str(tmp_path / "incremental"))
    first = [(DAY1, "EUR", "1.08"), (DAY1, "USD", "1")]
    write(store, build(store, rates(first)))

    later = datetime.now(UTC)  # refined after the fact was built, before it is built again
    changed = rates([(DAY1, "GBP", "1.27"), (DAY1, "EUR", "1.09")], refined_at=later)
    now = pl.concat([rates([(DAY1, "USD", "1")]), changed])
    incremental = build(store, now)
    assert incremental.metadata[REPLACED_SLICES].value == ["2025-01-01"]
    assert incremental.metadata["orders_waiting_for_rate"].value == 0
    write(store, incremental)

    full = DeltaStore(root=str(tmp_path / "full"))
    write(full, build(full, now))
    assert content(store).equals(content(full))
    assert content(store).select("order_id", "usd_rate").unique().sort("order_id").rows() == [
        (1, Decimal("1.090000")),
        (2, Decimal("1.000000")),
        (3, Decimal("1.270000")),
    ]
    # Nothing changed since: nothing is rebuilt.
    assert build(store, now).metadata[REPLACED_SLICES].value == []


def test_a_fact_built_a_day_at_a_time_equals_one_build(tmp_path):
    """Batches of one row's worth of days (one day each): the same lines as one batch."""
    two_days = orders().with_columns(
        pl.when(pl.col("order_id") == 1).then(pl.lit(DAY2)).otherwise("order_date").alias("order_date")
    )

    def fact(store: DeltaStore) -> pl.DataFrame:
        inputs = {"items": items(), "orders": two_days, "rates": RATES, "customers": CUSTOMERS}
        output = output_of(
            fact_order_items, context=dg.build_asset_context(), store=store, products=PRODUCTS, **inputs
        )
        return output.value.drop("_built_at").sort("order_id", "line_no")

    days_apart = fact(DeltaStore(root=str(tmp_path / "days"), batch_rows=1))

    assert days_apart.get_column("order_date").n_unique() == 2
    assert days_apart.equals(fact(DeltaStore(root=str(tmp_path / "whole"))))


def test_an_incremental_sizes_its_batches_from_the_days_it_rebuilds():
    """Day 1 holds 10 rows, days 2 and 3 one each; batches of 2 rows. A full build (4 rows a day on
    average) builds a day at a time; rebuilding days 2 and 3 counts only their rows (1 a day) and
    builds both at once."""
    d1, d2, d3 = (date(2025, 1, d) for d in (1, 2, 3))
    day_rows = pl.LazyFrame({"day": [d1] * 10 + [d2, d3]})
    asked: list[list[date]] = []

    def build(days: list[date]) -> pl.LazyFrame:
        asked.append(days)
        return day_rows.filter(pl.col("day").is_in(days))

    def batches(rebuilt: list[date] | None) -> list[list[date]]:
        asked.clear()
        output = replacing_by_days(build, rebuilt, day_rows, batch_rows=2)
        list(output.value.batches)
        return asked[1:]  # the first: the schema's plan

    assert batches(None) == [[d1], [d2], [d3]]
    assert batches([d2, d3]) == [[d2, d3]]


def test_an_incremental_counts_the_lines_held_back_for_their_order_from_what_it_writes(tmp_path):
    """Order 4's line waits for its order (quarantined), order 6's (CAD, 2 January) for a rate. A
    third line of order 1 and a line of order 5 (not refined) arrive: day 1 alone is rebuilt, and
    the count, taken from the fact's rows and the rebuilt days' lines (not every line joined to every
    order), is the anti join's: order 4's and order 5's lines."""
    store = DeltaStore(root=str(tmp_path))
    later = datetime.now(UTC) + timedelta(seconds=1)
    waiting = pl.LazyFrame(
        {"order_id": [6], "customer_id": [10], "order_at": [AT + timedelta(days=1)], "order_date": [DAY2]}
    ).with_columns(
        status=pl.lit("placed"), currency=pl.lit("CAD"), channel=pl.lit("web"), updated_at=pl.lit(AT)
    )
    with_waiting = pl.concat([orders(), waiting.with_columns(_refined_at=pl.lit(AT))], how="diagonal_relaxed")
    first = items().with_columns(
        pl.when(pl.col("order_id") == 4).then(6).otherwise("order_id").alias("order_id")
    )
    first = pl.concat([first, items().filter(pl.col("order_id") == 4)])
    arrived = pl.LazyFrame({"order_id": [1, 5], "line_no": [3, 1], "product_id": [8, 7], "quantity": [1, 1]})
    arrived = arrived.with_columns(
        unit_price=pl.lit(Decimal("2.00"), MONEY),
        discount=pl.lit(Decimal("0.00"), MONEY),
        _refined_at=pl.lit(later),
    )
    now = pl.concat([first, arrived])

    def build_with(lines: pl.LazyFrame) -> dg.Output:
        inputs = {"items": lines, "orders": with_waiting, "rates": RATES, "customers": CUSTOMERS}
        return output_of(
            fact_order_items, context=dg.build_asset_context(), store=store, products=PRODUCTS, **inputs
        )

    def held(output: dg.Output) -> int:
        return output.metadata[HELD_BACK].value["order lines held back: their order is not refined"]

    built = build_with(first)
    assert (held(built), built.metadata["orders_waiting_for_rate"].value) == (1, 1)
    write(store, built)
    again = build_with(now)
    assert again.metadata[REPLACED_SLICES].value == ["2025-01-01"]
    assert (
        held(again)
        == now.join(with_waiting, on="order_id", how="anti").select(pl.len()).collect().item()
        == 2
    )


def test_payments_settled_on_days_are_chosen_by_day_and_by_a_range_a_scan_can_prune_on():
    """Payments at the edges of 2 January (UTC): only those of the day, chosen by their day and by
    the range of `settled_at` (which a scan can prune files by; the derived day it cannot)."""
    edges = [AT, datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 2, 23, 59, 59, tzinfo=UTC)]
    settled = pl.LazyFrame({"settled_at": [*edges, datetime(2025, 1, 3, tzinfo=UTC)]}).with_columns(
        SETTLED_DATE
    )

    chosen = settled.filter(settled_on([DAY2])).collect()

    assert chosen.get_column("settled_at").to_list() == edges[1:]
    assert set(settled_on([DAY2]).meta.root_names()) == {"settled_date", "settled_at"}


def test_the_days_of_changed_rates_choose_payments_by_a_range_of_settled_at_a_scan_can_prune_on():
    """GBP's rate of 2 January and EUR's of 3 January were restated after `AT`: the days found are
    those with a payment in the changed currency on the changed day (2 January's GBP payment; the
    3rd has only a GBP one), and the payments are chosen by a range of `settled_at` below the
    derived day, so a scan of the payments skips the other days' files."""
    settled = [AT, datetime(2025, 1, 2, 1, tzinfo=UTC), datetime(2025, 1, 3, 1, tzinfo=UTC)]
    payments = pl.LazyFrame({"settled_at": settled, "currency": ["GBP", "GBP", "GBP"]}).with_columns(
        SETTLED_DATE
    )
    restated = rates([(DAY2, "GBP", "1.31"), (date(2025, 1, 3), "EUR", "1.1")], AT + timedelta(hours=1))

    found = days_of_changed_rates(payments, pl.concat([RATES, restated]), AT, "settled_date", settled_on)

    assert found.collect().get_column("settled_date").to_list() == [DAY2]
    plan = found.explain()
    below_the_day = plan[plan.index("WITH_COLUMNS") :]
    assert 'FILTER col("settled_at").is_between' in below_the_day


def test_the_lines_of_changed_products_are_read_from_their_earliest_change_on():
    """Product 7 is on orders 1 and 2 (1 January) and 3 (2 January: order 4's line, moved there).
    Changed from 2 January on: only order 3's line is read (orders 1 and 2 are not even looked
    up); new (all its lines rebuilt): all three."""
    two_days = orders().with_columns(
        pl.when(pl.col("order_id") == 3).then(AT + timedelta(days=1)).otherwise("order_at").alias("order_at"),
        pl.when(pl.col("order_id") == 3).then(pl.lit(DAY2)).otherwise("order_date").alias("order_date"),
    )
    lines = items().with_columns(
        pl.when(pl.col("order_id") == 4).then(3).otherwise("order_id").alias("order_id")
    )

    def read(rebuild_from: datetime | None, orders: pl.LazyFrame = two_days) -> list[tuple[int, date]]:
        changed = pl.LazyFrame(
            {"product_id": [7], REBUILD_FROM: [rebuild_from]},
            schema_overrides={REBUILD_FROM: pl.Datetime("us", "UTC")},
        )
        found = lines_of_changed(lines, orders, changed).select("order_id", "order_date").collect()
        return found.sort("order_id").rows()

    assert read(datetime(2025, 1, 2, tzinfo=UTC)) == [(3, DAY2)]
    assert read(None) == [(1, DAY1), (2, DAY1), (3, DAY2)]
    # Orders 1 and 2 stamped after the change but dated before it: were they looked up, their time
    # would keep them; the look-up by day leaves them out.
    after_the_change = AT + timedelta(days=1, hours=1)
    stamped_late = two_days.with_columns(
        pl.when(pl.col("order_id") < 3).then(after_the_change).otherwise("order_at").alias("order_at")
    )
    assert read(datetime(2025, 1, 2, tzinfo=UTC), stamped_late) == [(3, DAY2)]
    no_change = pl.LazyFrame(schema={"product_id": pl.Int64, REBUILD_FROM: pl.Datetime("us", "UTC")})
    assert earliest_change_day(no_change) == date.max
    assert lines_of_changed(lines, two_days, no_change).collect().height == 0
