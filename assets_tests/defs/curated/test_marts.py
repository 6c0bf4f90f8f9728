"""Daily sales: cancelled orders excluded, exact USD sums by day, category and country."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from assets_tests.defs.curated.support import checked_output, output_of
from assets_tests.defs.curated.truth import newest_day, sold, true_order_lines
from lakehouse.defs.curated.facts import FACT_ORDER_ITEMS, fact_order_items
from lakehouse.defs.curated.marts import (
    MART_CUSTOMER_RFM,
    PRODUCT_SUMMARY,
    SOLD,
    FactChange,
    mart_customer_rfm,
    mart_daily_sales,
    mart_product_performance,
    merged_products,
)
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.reads import StepReads
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteSpec
from lakehouse.settings import Settings

MONEY = pl.Decimal(18, 2)
D1, D2 = date(2025, 1, 1), date(2025, 1, 2)
AT = datetime(2025, 1, 3, tzinfo=UTC)
CUSTOMERS = pl.LazyFrame(
    {"customer_key": [-1, 10, 11], "country": ["unknown", "DE", "US"], "_refined_at": [None, AT, AT]}
)
PRODUCTS = pl.LazyFrame(
    {"product_key": [-1, 7, 8], "category": ["unknown", "toys", "books"], "_refined_at": [None, AT, AT]}
)


def lines() -> pl.LazyFrame:
    rows = [
        # order, date, customer, product, status, quantity, gross, discount, net (USD)
        (1, D1, 10, 7, "placed", 3, "33.21", "1.08", "32.13"),
        (1, D1, 10, 7, "placed", 1, "5.40", "0.00", "5.40"),
        (2, D1, 10, 7, "delivered", 2, "10.00", "0.50", "9.50"),
        (3, D1, 10, 7, "cancelled", 5, "100.00", "0.00", "100.00"),
        (4, D1, 11, 8, "returned", 1, "7.00", "0.00", "7.00"),
        (5, D2, -1, -1, "placed", 1, "1.00", "0.00", "1.00"),
        (6, D2, 11, 8, "cancelled", 1, "2.00", "0.00", "2.00"),
    ]
    columns = ["order_id", "order_date", "customer_key", "product_key", "order_status", "quantity"]
    frame = pl.DataFrame(
        [r[:6] + tuple(Decimal(v) for v in r[6:]) for r in rows],
        schema={
            **dict.fromkeys(columns),
            "gross_usd": MONEY,
            "discount_usd": MONEY,
            "net_usd": MONEY,
        },
        orient="row",
    )
    return frame.lazy().with_columns(_built_at=pl.lit(AT))


def first_build_batches(
    tmp_path, lines: pl.LazyFrame, batch_rows: int = Settings.batch_rows
) -> list[pl.DataFrame]:
    """The mart's first build, as the batches of days it builds and writes one at a time (each
    conformed to the contract), bookkeeping columns aside."""
    store = DeltaStore(root=str(tmp_path), batch_rows=batch_rows)
    output = checked_output(
        mart_daily_sales,
        context=dg.build_asset_context(),
        store=store,
        lines=lines,
        customers=CUSTOMERS,
        products=PRODUCTS,
    )
    return [batch.select(pl.exclude("^_.*$")) for batch in output.value.conformed()]


def first_build(tmp_path, lines: pl.LazyFrame, batch_rows: int = Settings.batch_rows) -> pl.DataFrame:
    return pl.concat(first_build_batches(tmp_path, lines, batch_rows))


def with_fact(store: DeltaStore, lines: pl.LazyFrame) -> DeltaStore:
    """The store, holding `lines` as its fact: the whole-table marts take the fact's newest values
    from its log, as a run reads it (the version of their `lines` input). Written when the store
    holds none; a fact it holds must be `lines` (a stale one would be judged instead: it fails)."""
    if not store.exists(FACT_ORDER_ITEMS):
        fact_version(store, lines)
        return store
    held = delta_tables.scan(store.uri(FACT_ORDER_ITEMS)).select(lines.collect_schema().names())
    try:
        assert_frame_equal(held, lines, check_row_order=False)
    except AssertionError as differs:
        raise AssertionError(f"the store's fact is not the lines given (a stale fact?): {differs}") from None
    return store


def rfm(store: DeltaStore, lines: pl.LazyFrame, customers: pl.LazyFrame) -> pl.DataFrame | None:
    """The RFM mart, built directly (outside a run: it reads its previous state as it is)."""
    context, store = dg.build_asset_context(), with_fact(store, lines)
    return output_of(mart_customer_rfm, context=context, store=store, lines=lines, customers=customers).value


def test_daily_sales_excludes_cancelled_orders_and_sums_exactly(tmp_path):
    mart = first_build(tmp_path, lines())

    d = Decimal
    assert mart.rows() == [
        (D1, "books", "US", 1, 1, d("7.00"), d("0.00"), d("7.00")),
        (D1, "toys", "DE", 2, 6, d("48.61"), d("1.58"), d("47.03")),
        (D2, "unknown", "unknown", 1, 1, d("1.00"), d("0.00"), d("1.00")),
    ]
    assert mart.columns == [
        "order_date",
        "category",
        "country",
        "orders",
        "units",
        "gross_usd",
        "discount_usd",
        "net_usd",
    ]


def test_daily_sales_built_a_day_at_a_time_equal_one_build(tmp_path):
    """Batches of one line's worth of days (a day each): the same mart as one batch."""
    batches = first_build_batches(tmp_path / "days", lines(), batch_rows=1)
    whole = first_build_batches(tmp_path / "whole", lines())

    assert [batch.get_column("order_date").unique().to_list() for batch in batches] == [[D1], [D2]]
    assert len(whole) == 1
    assert pl.concat(batches).equals(whole[0])


def test_a_day_with_only_cancelled_orders_has_no_row(tmp_path):
    only_cancelled = lines().filter(pl.col("order_id") == 6)

    mart = first_build(tmp_path, only_cancelled)

    assert mart.height == 0


def rfm_lines(rows: list[tuple[int, int, date, str, str]]) -> pl.LazyFrame:
    """Fact lines: (order, customer, day, status, net USD)."""
    return pl.LazyFrame(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "order_date": [r[2] for r in rows],
            "order_status": [r[3] for r in rows],
            "net_usd": [Decimal(r[4]) for r in rows],
            "_built_at": [AT] * len(rows),
        },
        schema_overrides={"net_usd": MONEY},
    )


def test_rfm_scores_and_segments_follow_the_documented_bounds(tmp_path):
    day = date(2025, 12, 31)
    ago = [day - timedelta(days=n) for n in range(400)]
    lines = rfm_lines(
        [
            # 10: 6 orders, the last today, 1,000 USD: champion (5, 5, 5)
            *((n, 10, ago[n], "delivered", "166.67") for n in range(1, 6)),
            (6, 10, ago[0], "placed", "166.65"),
            # 11: one order 45 days ago, 49.99 USD, and a cancelled one today (ignored): new (4, 1, 1)
            (7, 11, ago[45], "delivered", "49.99"),
            (8, 11, ago[0], "cancelled", "500.00"),
            # 12: 2 orders, the last 200 days ago; one 390 days ago (outside the monetary year): lost
            (9, 12, ago[200], "delivered", "150.00"),
            (10, 12, ago[390], "delivered", "1000.00"),
            # 13: 4 orders 100 days ago: loyal (2, 4, ...)
            *((n, 13, ago[100], "delivered", "100.00") for n in range(11, 15)),
            # 14: 2 orders 150 days ago: at risk (2, 2, ...)
            *((n, 14, ago[150], "delivered", "10.00") for n in range(15, 17)),
        ]
    )
    customers = pl.LazyFrame(
        {
            "customer_id": [-1, 10, 10, 11],
            "country": ["unknown", "DE", "FR", "US"],
            "is_current": [True, False, True, True],
            "_refined_at": [None, AT, AT, AT],
        }
    )

    mart = rfm(store=DeltaStore(root=str(tmp_path)), lines=lines, customers=customers)

    assert mart.select(
        "customer_id", "country", "recency_days", "frequency", "monetary_usd", "lifetime_value_usd"
    ).rows() == [
        (10, "FR", 0, 6, Decimal("1000.00"), Decimal("1000.00")),
        (11, "US", 45, 1, Decimal("49.99"), Decimal("49.99")),
        (12, "unknown", 200, 2, Decimal("150.00"), Decimal("1150.00")),
        (13, "unknown", 100, 4, Decimal("400.00"), Decimal("400.00")),
        (14, "unknown", 150, 2, Decimal("20.00"), Decimal("20.00")),
    ]
    assert mart.select("recency_score", "frequency_score", "monetary_score", "segment").rows() == [
        (5, 5, 5, "champion"),
        (4, 1, 1, "new"),
        (1, 2, 3, "lost"),
        (2, 4, 4, "loyal"),
        (2, 2, 1, "at_risk"),
    ]


def test_a_store_holding_another_fact_than_the_lines_given_fails_loudly(tmp_path):
    store = with_fact(DeltaStore(root=str(tmp_path)), rfm_lines([(1, 10, D1, "placed", "1.00")]))
    assert with_fact(store, rfm_lines([(1, 10, D1, "placed", "1.00")])) is store  # the same lines
    with pytest.raises(AssertionError, match="the store's fact is not the lines given"):
        with_fact(store, rfm_lines([(1, 10, D1, "placed", "2.00")]))


def test_whole_table_marts_write_nothing_when_no_input_moved(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    lines = rfm_lines([(1, 10, D1, "placed", "1.00")])
    customers = pl.LazyFrame(
        {"customer_id": [10], "country": ["DE"], "is_current": [True], "_refined_at": [AT]}
    )
    mart = rfm(store=store, lines=lines, customers=customers)
    write_spec = WriteSpec.from_metadata(mart_customer_rfm.specs_by_key[MART_CUSTOMER_RFM].metadata)
    delta_tables.write(store.uri(MART_CUSTOMER_RFM), mart, write_spec, {})

    assert rfm(store=store, lines=lines, customers=customers) is None
    later = customers.with_columns(_refined_at=pl.lit(AT + timedelta(hours=1)))
    assert rfm(store=store, lines=lines, customers=later) is not None


def rfm_rows(store: DeltaStore, lines: pl.LazyFrame, customers: pl.LazyFrame) -> tuple[list[tuple], object]:
    """The RFM mart's rows (bookkeeping aside) and how many customers it summarised again."""
    context, store = dg.build_asset_context(), with_fact(store, lines)
    output = output_of(mart_customer_rfm, context=context, store=store, lines=lines, customers=customers)
    return output.value.select(pl.exclude("^_.*$")).rows(), output.metadata["customers_summarised"].value


FACT_SPEC = WriteSpec.from_metadata(fact_order_items.specs_by_key[FACT_ORDER_ITEMS].metadata)


def fact_version(store: DeltaStore, lines: pl.LazyFrame, days: list[date] | None = None) -> Fact:
    """`lines` committed as the fact's next version, as the fact asset commits it: whole first, then
    the `days` replaced."""
    uri = store.uri(FACT_ORDER_ITEMS)
    frame = lines.with_columns(order_month=pl.col("order_date").dt.truncate("1mo")).collect()
    if days is not None:
        frame = frame.filter(pl.col("order_date").is_in(days))
    version = delta_tables.write(uri, frame, FACT_SPEC, {}, slices=days).version
    return Fact(delta_tables.scan(uri, at_version=version), version)


@dataclass(frozen=True)
class Fact:
    lines: pl.LazyFrame  # one version of the fact
    version: int


@dataclass(frozen=True)
class FactAt:
    """What a run that started when the fact was at `at` reads (`RunSnapshot`): that version of
    the fact, the newest of the others."""

    fact_uri: str
    at: int

    def version(self, uri: str) -> int | None:
        return self.at if uri == self.fact_uri else delta_tables.version(uri)


@dataclass(frozen=True)
class ReadsAt(StepReads):
    at: FactAt | None = None

    @property
    def snapshot(self) -> FactAt | None:
        return self.at


class StoreAt(DeltaStore):
    """The store as a step of a run that read version `fact_version` of the fact reads it."""

    fact_version: int

    def reading(self, context: dg.AssetExecutionContext) -> StepReads:
        return ReadsAt(self, context, FactAt(self.uri(FACT_ORDER_ITEMS), self.fact_version))


def committed_mart(store: DeltaStore, asset: dg.AssetsDefinition, fact: Fact, **inputs: object) -> dg.Output:
    """The mart built from one version of the fact and committed as a run commits it: naming the
    fact's version it read."""
    run_store = StoreAt(root=store.root, fact_version=fact.version)
    output = output_of(asset, context=dg.build_asset_context(), store=run_store, lines=fact.lines, **inputs)
    spec = WriteSpec.from_metadata(asset.specs_by_key[asset.key].metadata)
    read = {"dagster.input_versions": {"curated/fact_order_items": fact.version}}
    delta_tables.write(store.uri(asset.key), output.value, spec, read)
    return output


def test_rfm_summarises_again_only_the_customers_a_new_day_or_the_window_moved(tmp_path):
    """Customer 10 orders on the new day; 12's only order in the year leaves the monetary window;
    11 and 13 are carried over (recency moves for all): the mart equals one built from scratch.
    Then the fact is restored to its first version: no day says what changed, every line counts."""
    day = date(2025, 12, 30)
    year_ago = day - timedelta(days=364)  # in the window ending `day`, out of the next day's
    customers = pl.LazyFrame(
        {
            "customer_id": [10, 11, 12, 13],
            "country": ["DE"] * 4,
            "is_current": [True] * 4,
            "_refined_at": [AT] * 4,
        }
    )
    old = rfm_lines(
        [
            (1, 10, day, "placed", "10.00"),
            (2, 11, day, "placed", "20.00"),
            (3, 12, year_ago, "placed", "30.00"),
            (4, 13, day - timedelta(days=40), "placed", "40.00"),
        ]
    )
    store = DeltaStore(root=str(tmp_path / "incremental"))
    first = fact_version(store, old)
    committed_mart(store, mart_customer_rfm, first, customers=customers)
    new_day = rfm_lines([(5, 10, day + timedelta(days=1), "placed", "5.00")]).with_columns(
        _built_at=pl.lit(AT + timedelta(days=1))
    )
    second = fact_version(store, pl.concat([old, new_day]), days=[day + timedelta(days=1)])
    lines = second.lines

    rows, summarised = rfm_rows(store, lines, customers)

    assert summarised == 2  # 10 (a line on the replaced day) and 12 (the window left its order's day)
    assert rows == rfm_rows(DeltaStore(root=str(tmp_path / "full")), lines, customers)[0]
    assert [(r[0], r[5], r[6]) for r in rows] == [  # customer, recency, frequency
        (10, 0, 2),
        (11, 1, 1),
        (12, 365, 1),
        (13, 41, 1),
    ]
    assert [r[7] for r in rows] == [Decimal("15.00"), Decimal("20.00"), Decimal("0.00"), Decimal("40.00")]

    committed_mart(store, mart_customer_rfm, second, customers=customers)
    DeltaTable(store.uri(FACT_ORDER_ITEMS)).restore(0)  # its rows keep their old `_built_at`
    restored = delta_tables.scan(store.uri(FACT_ORDER_ITEMS))
    rows, summarised = rfm_rows(store, restored, customers)
    assert summarised == "all"
    assert rows == rfm_rows(DeltaStore(root=str(tmp_path / "full-restored")), restored, customers)[0]
    assert [(r[0], r[6]) for r in rows] == [(10, 1), (11, 1), (12, 1), (13, 1)]


def test_customer_and_product_marts_equal_the_simulated_sales(any_lakehouse):
    truth = true_order_lines(any_lakehouse.settings.sources_dir)
    as_of = newest_day(truth)
    in_year = pl.col("order_date") > as_of - timedelta(days=365)
    expected_rfm = (
        sold(truth)
        .group_by("customer_id")
        .agg(
            pl.col("order_date").min(),
            pl.col("order_date").max().alias("last"),
            pl.col("order_id").n_unique(),
            pl.col("net_usd").filter(in_year).sum(),
            pl.col("net_usd").sum().alias("lifetime"),
        )
        .sort("customer_id")
    )
    rfm = read(any_lakehouse, "mart_customer_rfm").sort("customer_id")
    assert (
        rfm.select(
            "customer_id",
            "first_order_date",
            "last_order_date",
            "frequency",
            "monetary_usd",
            "lifetime_value_usd",
        ).rows()
        == expected_rfm.rows()
    )
    assert (rfm["as_of"] == as_of).all()

    expected_products = (
        sold(truth)
        .group_by("product_id")
        .agg(
            pl.col("order_id").n_unique(),
            pl.col("quantity").sum(),
            pl.col("net_usd").sum(),
            pl.col("customer_id").n_unique().alias("customers"),
            pl.col("order_date").min(),
            pl.col("order_date").max().alias("last"),
        )
        .sort("product_id")
    )
    products = read(any_lakehouse, "mart_product_performance").sort("product_id")
    assert (
        products.select(
            "product_id", "orders", "units", "net_usd", "customers", "first_sale_date", "last_sale_date"
        ).rows()
        == expected_products.rows()
    )
    top = products.filter(pl.col("rank_in_category") == 1)
    assert top.height == products["category"].n_unique()
    assert (
        products.group_by("category")
        .agg(pl.col("share_of_category").sum())["share_of_category"]
        .round(9)
        .eq(1.0)
        .all()
    )


def read(lakehouse, name: str) -> pl.DataFrame:
    return pl.read_delta(str(lakehouse.settings.tables_dir / "curated" / name))


def product_lines(rows: list[tuple[int, int, int, date, str]]) -> pl.LazyFrame:
    """Fact lines: (order, customer, product, day, status), one unit of 1.00 USD each, built at `AT`."""
    return pl.LazyFrame(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "product_id": [r[2] for r in rows],
            "order_date": [r[3] for r in rows],
            "order_status": [r[4] for r in rows],
            "quantity": [1] * len(rows),
            "net_usd": [Decimal("1.00")] * len(rows),
            "_built_at": [AT] * len(rows),
        },
        schema_overrides={"net_usd": MONEY},
    )


def test_a_product_summary_merged_from_a_replaced_day_equals_one_from_every_line():
    """Day 3 replaced: product 7 loses its last sale and a customer (cancelled), 8 sells again to a
    customer it had (twice in one order), 9 loses its only sale, 5 is new, 6 is untouched."""
    d1, d2, d3 = (date(2025, 1, d) for d in (1, 2, 3))
    kept = [(1, 10, 7, d1, "placed"), (2, 10, 8, d2, "placed"), (3, 12, 6, d1, "placed")]
    was = product_lines([*kept, (4, 11, 7, d3, "placed"), (5, 13, 9, d3, "placed")])
    now = product_lines(
        [
            *kept,
            (4, 11, 7, d3, "cancelled"),
            (5, 13, 9, d3, "cancelled"),
            (6, 10, 8, d3, "placed"),
            (6, 10, 8, d3, "placed"),
            (7, 14, 5, d3, "placed"),
        ]
    )
    on_d3 = pl.col("order_date") == d3
    change = FactChange([d3], was.filter(SOLD, on_d3), now.filter(SOLD, on_d3), now.filter(SOLD, ~on_d3))

    merged = merged_products(PRODUCT_SUMMARY.summarise(was), change).sort("product_id").collect()

    assert merged.equals(PRODUCT_SUMMARY.summarise(now).sort("product_id").collect())
    assert merged.select("product_id", "orders", "units", "customers", "last_sale_date").rows() == [
        (5, 1, 1, 1, d3),
        (6, 1, 1, 1, d1),
        (7, 1, 1, 1, d1),
        (8, 2, 3, 1, d3),
    ]


def test_the_product_mart_merges_a_replaced_day_but_never_onto_a_newer_runs_rows(tmp_path):
    """The fact's second version replaces 2 January (one unit becomes five): the mart merges that
    day. Then a run that read the first version writes after (two runs at once): it summarises
    every line, so the next run, from the second version, still counts each unit once."""
    d1, d2 = date(2025, 1, 1), date(2025, 1, 2)
    products = pl.LazyFrame(
        {"product_id": [7], "category": ["toys"], "name": ["kite"], "is_current": [True], "_refined_at": [AT]}
    )
    store = DeltaStore(root=str(tmp_path / "incremental"))
    first = fact_version(store, product_lines([(1, 10, 7, d1, "placed"), (2, 11, 7, d2, "placed")]))
    committed_mart(store, mart_product_performance, first, products=products)
    later = product_lines([(1, 10, 7, d1, "placed"), *[(2, 11, 7, d2, "placed")] * 5])
    second = fact_version(store, later.with_columns(_built_at=pl.lit(AT + timedelta(days=1))), days=[d2])

    def units(output: dg.Output) -> list[tuple]:
        return output.value.select("product_id", "orders", "units", "customers").rows()

    merged = committed_mart(store, mart_product_performance, second, products=products)
    assert (merged.metadata["days_merged"].value, units(merged)) == (1, [(7, 2, 6, 2)])
    stale = committed_mart(store, mart_product_performance, first, products=products)
    whole = "none: summarised from every line"
    assert (stale.metadata["days_merged"].value, units(stale)) == (whole, [(7, 2, 2, 2)])
    inputs = {"store": store, "lines": second.lines, "products": products}
    again = output_of(mart_product_performance, context=dg.build_asset_context(), **inputs)
    assert (again.metadata["days_merged"].value, units(again)) == (1, [(7, 2, 6, 2)])
