"""Marts: business questions answered from the star schema.

`mart_daily_sales` is rebuilt day by day, `mart_monthly_revenue` month by month. The customer and
product marts summarise each member's whole history, one row per member; each records the newest
watermark of its inputs (`_fact_built_at`, `_…_refined_at`), and a run in which none moved writes
nothing. When the fact moved, what it changed since the mart read it is told from its commits
(`fact_change`: the days it replaced, their lines as they were and as they are): the product mart
adds and subtracts those days (`merged_products`), the customer mart summarises again only the
customers with lines on them (`by_member`), carrying the others over. When the change cannot be
told (a merge, a restore, a vacuum, two runs at once), every line is summarised. What depends on
every member at once is then computed over the mart's rows, not the fact's: a product's rank and
share in its category, a customer's recency from the newest order day (see `mart_customer_rfm`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
import pandera.polars as pa
import polars as pl
from deltalake.exceptions import DeltaError

from lakehouse.defs.curated.dimensions import DIM_CUSTOMER_TABLE, DIM_PRODUCT_TABLE
from lakehouse.defs.curated.facts import (
    DIM_CUSTOMER,
    DIM_PRODUCT,
    FACT_ORDER_ITEMS,
    FACT_ORDER_ITEMS_TABLE,
    replacing_by_days,
)
from lakehouse.defs.curated.lineage import lineage_metadata
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.incremental import (
    changed_since,
    days,
    newest,
    one_of,
    unchanged,
    watermarks,
)
from lakehouse.lib.keys import UNKNOWN_KEY
from lakehouse.lib.quality.contract import (
    Contract,
    MoneyTotal,
    UtcTimestamp,
    contract_columns,
    pii,
    refined_at,
    watermark,
)
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage.delta_tables import slices_replaced_after, version_read
from lakehouse.lib.storage.reads import PinnedTable, table_name
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.store import DeltaStore


class MartDailySalesContract(Contract):
    order_date: pl.Date = pa.Field(nullable=False, description="Order day (UTC).")
    category: pl.String = pa.Field(nullable=False, description="Product category ('unknown' if none).")
    country: pl.String = pa.Field(nullable=False, description="Customer country ('unknown' if none).")
    orders: pl.Int64 = pa.Field(nullable=False, gt=0, description="Distinct orders with a line here.")
    units: pl.Int64 = pa.Field(nullable=False, gt=0, description="Units sold.")
    gross_usd: MoneyTotal = pa.Field(nullable=False, description="Gross revenue, USD.")
    discount_usd: MoneyTotal = pa.Field(nullable=False, description="Discounts, USD.")
    net_usd: MoneyTotal = pa.Field(nullable=False, description="Net revenue (gross - discount), USD.")
    fact_built_at: UtcTimestamp = pa.Field(
        nullable=False, alias="_fact_built_at", description="Newest fact row included."
    )
    customer_refined_at: UtcTimestamp = refined_at("newest customer", "_customer_refined_at")
    product_refined_at: UtcTimestamp = refined_at("newest product", "_product_refined_at")


class MartCustomerRfmContract(Contract):
    customer_id: pl.Int64 = pa.Field(
        nullable=False, description="The shop's customer id.", metadata=pii("indirect")
    )
    country: pl.String = pa.Field(
        nullable=False, description="Current country ('unknown' if not in dim_customer)."
    )
    as_of: pl.Date = pa.Field(
        nullable=False, description="Newest order day in the fact: recency is measured from it."
    )
    first_order_date: pl.Date = pa.Field(nullable=False, description="Day of the first order (UTC).")
    last_order_date: pl.Date = pa.Field(nullable=False, description="Day of the last order (UTC).")
    recency_days: pl.Int64 = pa.Field(nullable=False, ge=0, description="Days from the last order to as_of.")
    frequency: pl.Int64 = pa.Field(nullable=False, gt=0, description="Orders placed (not cancelled).")
    monetary_usd: MoneyTotal = pa.Field(
        nullable=False, description="Net revenue, USD, in the 365 days to as_of."
    )
    lifetime_value_usd: MoneyTotal = pa.Field(nullable=False, description="Net revenue, USD, all time.")
    recency_score: pl.Int8 = pa.Field(
        nullable=False, in_range={"min_value": 1, "max_value": 5}, description="1-5."
    )
    frequency_score: pl.Int8 = pa.Field(
        nullable=False, in_range={"min_value": 1, "max_value": 5}, description="1-5."
    )
    monetary_score: pl.Int8 = pa.Field(
        nullable=False, in_range={"min_value": 1, "max_value": 5}, description="1-5."
    )
    segment: pl.String = pa.Field(
        nullable=False,
        isin=["champion", "loyal", "new", "lost", "at_risk", "regular"],
        description="champion, loyal, new, lost, at_risk or regular.",
    )
    fact_built_at: UtcTimestamp = watermark("fact row", "_fact_built_at")
    customer_refined_at: UtcTimestamp = watermark("customer refinement", "_customer_refined_at")


class MartProductPerformanceContract(Contract):
    product_id: pl.Int64 = pa.Field(nullable=False, description="The shop's product id.")
    category: pl.String = pa.Field(
        nullable=False, description="Current category ('unknown' if not in dim_product)."
    )
    name: pl.String = pa.Field(nullable=True, description="Current product name.")
    orders: pl.Int64 = pa.Field(nullable=False, gt=0, description="Orders with the product.")
    units: pl.Int64 = pa.Field(nullable=False, gt=0, description="Units sold.")
    net_usd: MoneyTotal = pa.Field(nullable=False, description="Net revenue, USD.")
    customers: pl.Int64 = pa.Field(nullable=False, gt=0, description="Distinct customers who bought it.")
    first_sale_date: pl.Date = pa.Field(nullable=False, description="Day of the first sale (UTC).")
    last_sale_date: pl.Date = pa.Field(nullable=False, description="Day of the last sale (UTC).")
    rank_in_category: pl.Int64 = pa.Field(
        nullable=False,
        gt=0,
        description="1 = most net revenue in its category (ties: lower product id first).",
    )
    share_of_category: pl.Float64 = pa.Field(
        nullable=True, description="Its share of the category's net revenue."
    )
    fact_built_at: UtcTimestamp = watermark("fact row", "_fact_built_at")
    product_refined_at: UtcTimestamp = watermark("product refinement", "_product_refined_at")


MART_DAILY_SALES_TABLE = TableSpec(
    layer="curated",
    name="mart_daily_sales",
    description=(
        "Daily sales by order date (UTC), product category and customer country, cancelled orders "
        "excluded: orders, units, gross, discount and net revenue in USD."
    ),
    contract=MartDailySalesContract,
    key=("order_date", "category", "country"),
    grain="day x category x country",
    slice_by="order_date",
    freshness=DAILY,
)
MART_CUSTOMER_RFM_TABLE = TableSpec(
    layer="curated",
    name="mart_customer_rfm",
    description=(
        "Customers by recency, frequency and monetary value (cancelled orders excluded): 1-5 scores, a "
        "segment, and lifetime value in USD, as of the newest order day. Scores are 1-5 from fixed "
        "bounds: recency 5/4/3/2 within 30/60/90/180 days, else 1; frequency 2/3/4/5 from 2/3/4/6 "
        "orders, else 1; monetary 2/3/4/5 from 50/150/400/1000 USD, else 1. Segments, first match: "
        "champion (R>=4, F>=4), loyal (F>=4), new (R>=4, F=1), lost (R=1), at_risk (R<=2, F>=2), regular."
    ),
    contract=MartCustomerRfmContract,
    key=("customer_id",),
    grain="customer",
    freshness=DAILY,
)
MART_PRODUCT_PERFORMANCE_TABLE = TableSpec(
    layer="curated",
    name="mart_product_performance",
    description=(
        "Products by sales (cancelled orders excluded): orders, units, net revenue in USD, customers, "
        "first and last sale, and rank and share of revenue within the current category."
    ),
    contract=MartProductPerformanceContract,
    key=("product_id",),
    grain="product",
    freshness=DAILY,
)
MART_DAILY_SALES = MART_DAILY_SALES_TABLE.asset_key
MART_CUSTOMER_RFM = MART_CUSTOMER_RFM_TABLE.asset_key
MART_PRODUCT_PERFORMANCE = MART_PRODUCT_PERFORMANCE_TABLE.asset_key
SOLD = pl.col("order_status") != "cancelled"
SALES_WATERMARKS = ["_fact_built_at", "_customer_refined_at", "_product_refined_at"]
SALES_GRAIN = [pl.col("order_date"), pl.col("category"), pl.col("country")]
SALES_MEASURES = [
    pl.col("order_id").n_unique().cast(pl.Int64).alias("orders"),
    pl.col("quantity").sum().alias("units"),
    pl.col("gross_usd").sum().alias("gross_usd"),
    pl.col("discount_usd").sum().alias("discount_usd"),
    pl.col("net_usd").sum().alias("net_usd"),
]


def sales_days_to_rebuild(current: pl.LazyFrame | None, lines: pl.LazyFrame) -> list[date] | None:
    """Days whose fact lines were rebuilt since the mart was (None: all).

    The mart takes a version's country and category, which change only with a change event at or
    before the version's start; the fact rebuilds every line that may point to such a version
    (`incremental.changed_members`), so its rebuilt days are the mart's too. (Before, every day
    of a changed member's lines was rebuilt: a third of the history for one new day.)
    """
    marks = watermarks(current, SALES_WATERMARKS)
    if marks is None:  # no mart yet: build every day
        return None
    return days(changed_since(lines, marks["_fact_built_at"], "_built_at").select("order_date"))


@MART_DAILY_SALES_TABLE.asset(
    ins={
        "lines": dg.AssetIn(FACT_ORDER_ITEMS),
        "customers": dg.AssetIn(DIM_CUSTOMER),
        "products": dg.AssetIn(DIM_PRODUCT),
    },
    metadata=lineage_metadata(
        [*SALES_GRAIN, *SALES_MEASURES],
        {
            FACT_ORDER_ITEMS: contract_columns(FACT_ORDER_ITEMS_TABLE.contract),
            DIM_CUSTOMER: contract_columns(DIM_CUSTOMER_TABLE.contract),
            DIM_PRODUCT: contract_columns(DIM_PRODUCT_TABLE.contract),
        },
    ),
)
def mart_daily_sales(
    context: dg.AssetExecutionContext,
    store: DeltaStore,
    lines: pl.LazyFrame,
    customers: pl.LazyFrame,
    products: pl.LazyFrame,
) -> dg.Output[RowBatches]:
    """Built a few days at a time (`replacing_by_days`): grouped over every line at once, the
    distinct orders per group held the whole fact (scale 10: 4.4 GB for 30M lines)."""
    previous = store.reading(context).scan_or_none(MART_DAILY_SALES)
    rebuilt = sales_days_to_rebuild(previous, lines)
    refined_at = [
        newest(customers).alias("_customer_refined_at"),
        newest(products).alias("_product_refined_at"),
    ]

    def sales_of(days: list[date]) -> pl.LazyFrame:
        return (
            lines.filter(one_of("order_date", days), SOLD)
            .join(customers.select("customer_key", "country"), on="customer_key", how="left")
            .join(products.select("product_key", "category"), on="product_key", how="left")
            .group_by(SALES_GRAIN)
            .agg(*SALES_MEASURES, pl.col("_built_at").max().alias("_fact_built_at"))
            .with_columns(refined_at)
            .sort("order_date", "category", "country")
        )

    return replacing_by_days(sales_of, rebuilt, lines.select("order_date"), store.batch_rows)


def whole_table_marks(fact: PinnedTable, dim: pl.LazyFrame, dim_mark: str) -> dict[str, object]:
    """The newest watermark of the fact and of the dimension, as a whole-table mart records them.
    The fact's from its log's statistics (`PinnedTable.newest`: a scale-10 fact's `_built_at` is
    30M rows), pinned as the step reads it: in a run, the version of its input."""
    return {
        "_fact_built_at": fact.newest("_built_at"),
        dim_mark: dim.select(pl.col("_refined_at").max()).collect(engine="streaming").item(),
    }


def recorded(mart: pl.LazyFrame, marks: dict[str, object]) -> pl.LazyFrame:
    """The mart with the input watermarks it was built from, as constant columns."""
    return mart.with_columns(
        pl.lit(value, pl.Datetime("us", "UTC")).alias(name) for name, value in marks.items()
    )


@dataclass(frozen=True)
class Summary:
    """How a mart summarises one member (`key`) from the fact's lines: `summarise(lines)` gives a
    row per member with the `columns` that depend on its lines (and, for RFM's monetary value,
    on the day the window ends)."""

    key: str
    columns: list[str]
    summarise: Callable[[pl.LazyFrame], pl.LazyFrame]


def by_member(
    summary: Summary, lines: pl.LazyFrame, previous: pl.LazyFrame, touched: pl.LazyFrame
) -> tuple[pl.LazyFrame, int]:
    """Each member's summary: summarised again from its lines for the `touched` members (one column
    of keys), carried over from the `previous` mart for the others. Returns the rows and how many
    members were summarised again."""
    keys = touched.unique().collect().to_series()
    again = summary.summarise(lines.filter(one_of(summary.key, keys)))
    kept = previous.filter(~pl.col(summary.key).is_in(keys.implode())).select(summary.key, *summary.columns)
    return pl.concat([kept, again.select(summary.key, *summary.columns)], how="vertical_relaxed"), keys.len()


RECENCY_DAYS = (30, 60, 90, 180)  # recency score 5, 4, 3, 2 up to these days; 1 beyond
FREQUENCY_ORDERS = (2, 3, 4, 6)  # frequency score 2, 3, 4, 5 from these orders; 1 below
MONETARY_USD = (50, 150, 400, 1000)  # monetary score 2, 3, 4, 5 from these USD; 1 below
MONETARY_WINDOW = timedelta(days=365)


def _score(value: pl.Expr, bounds: tuple[int, ...], lower_is_better: bool = False) -> pl.Expr:
    """A 1-5 score: how many of the four bounds `value` reaches (or, lower_is_better, stays within)."""
    passed = (value <= b if lower_is_better else value >= b for b in bounds)
    return (pl.sum_horizontal(passed) + 1).cast(pl.Int8)


RFM_MEASURES = [
    pl.col("order_date").max().alias("last_order_date"),
    pl.col("order_date").min().alias("first_order_date"),
    pl.col("order_id").n_unique().cast(pl.Int64).alias("frequency"),
    pl.col("net_usd")
    .filter(pl.col("order_date") > pl.col("as_of") - MONETARY_WINDOW)
    .sum()
    .alias("monetary_usd"),
    pl.col("net_usd").sum().alias("lifetime_value_usd"),
]
RECENCY = (pl.col("as_of") - pl.col("last_order_date")).dt.total_days().cast(pl.Int64).alias("recency_days")
RFM_SCORES = [
    _score(pl.col("recency_days"), RECENCY_DAYS, lower_is_better=True).alias("recency_score"),
    _score(pl.col("frequency"), FREQUENCY_ORDERS).alias("frequency_score"),
    _score(pl.col("monetary_usd"), MONETARY_USD).alias("monetary_score"),
]
R, F = pl.col("recency_score"), pl.col("frequency_score")
SEGMENT = (
    pl.when((R >= 4) & (F >= 4))
    .then(pl.lit("champion"))
    .when(F >= 4)
    .then(pl.lit("loyal"))
    .when((R >= 4) & (F == 1))
    .then(pl.lit("new"))
    .when(R == 1)
    .then(pl.lit("lost"))
    .when((R <= 2) & (F >= 2))
    .then(pl.lit("at_risk"))
    .otherwise(pl.lit("regular"))
    .alias("segment")
)


@MART_CUSTOMER_RFM_TABLE.asset(
    ins={"lines": dg.AssetIn(FACT_ORDER_ITEMS), "customers": dg.AssetIn(DIM_CUSTOMER)},
    metadata=lineage_metadata(
        [pl.col("customer_id"), pl.col("country"), *RFM_MEASURES, RECENCY, *RFM_SCORES, SEGMENT],
        {
            FACT_ORDER_ITEMS: contract_columns(FACT_ORDER_ITEMS_TABLE.contract),
            DIM_CUSTOMER: contract_columns(DIM_CUSTOMER_TABLE.contract),
        },
        derived=[*RFM_MEASURES, RECENCY, *RFM_SCORES],
    ),
)
def mart_customer_rfm(
    context: dg.AssetExecutionContext, store: DeltaStore, lines: pl.LazyFrame, customers: pl.LazyFrame
) -> dg.Output[pl.LazyFrame] | None:
    """Every row is written each time the newest order day moves: recency is counted from it, for
    every customer. (Computed at query time instead, the mart would no longer hold its scores and
    segments, which are its answer.) The summaries behind it are not: only the customers with
    sold lines on a day the fact replaced since (as it was or as it is: `fact_change`), or on a
    day the 365-day monetary window left or took in, are summarised again from their lines
    (`by_member`); every line when the fact's change cannot be told."""
    reads = store.reading(context)
    fact = reads.pin(FACT_ORDER_ITEMS)
    marks = whole_table_marks(fact, customers, "_customer_refined_at")
    previous = reads.scan_or_none(MART_CUSTOMER_RFM)
    if unchanged(previous, marks):
        return None
    # The newest order day: recency is measured from it (not the wall clock, so a rebuild of the
    # same data gives the same mart).
    day = fact.newest("order_date")
    summary = rfm_summary(day)
    change = fact_change(store, MART_CUSTOMER_RFM, lines, previous, marks)
    if change is None or previous is None:
        summaries, again = summary.summarise(lines), None
    else:  # the customers with sold lines on the replaced days, before or now, or the window moved
        touched = [change.before, change.after, window_moved(lines, previous, day)]
        keys = pl.concat(t.select("customer_id") for t in touched if t is not None)
        summaries, again = by_member(summary, lines, previous, keys)
    current = customers.filter("is_current", pl.col("customer_id") != UNKNOWN_KEY).select(
        "customer_id", "country"
    )
    mart = (
        summaries.with_columns(pl.lit(day, pl.Date).alias("as_of"))
        .with_columns(RECENCY)
        .with_columns(RFM_SCORES)
        .with_columns(SEGMENT)
        .join(current, on="customer_id", how="left")
        .with_columns(pl.col("country").fill_null("unknown"))
        .sort("customer_id")
    )
    return dg.Output(recorded(mart, marks), metadata={"customers_summarised": again or "all"})


def rfm_summary(day: date) -> Summary:
    """A customer's orders and revenue (cancelled orders excluded), the monetary window ending `day`."""

    def summarise(lines: pl.LazyFrame) -> pl.LazyFrame:
        of_day = lines.filter(SOLD).with_columns(pl.lit(day, pl.Date).alias("as_of"))
        return of_day.group_by("customer_id").agg(RFM_MEASURES)

    return Summary("customer_id", [str(m.meta.output_name()) for m in RFM_MEASURES], summarise)


def window_moved(lines: pl.LazyFrame, previous: pl.LazyFrame, day: date | None) -> pl.LazyFrame | None:
    """The customers with lines on the days the monetary window left or took in since the mart's
    newest order day (`as_of`): their monetary value changed though none of their lines did."""
    before = previous.select(pl.col("as_of").max()).collect().item()
    if before is None or day is None:
        return None
    first, last = sorted([before, day])
    shifted = pl.col("order_date").is_between(first - MONETARY_WINDOW, last - MONETARY_WINDOW, closed="right")
    return lines.filter(shifted).select("customer_id")


PRODUCT_MEASURES = [
    pl.col("order_id").n_unique().cast(pl.Int64).alias("orders"),
    pl.col("quantity").sum().alias("units"),
    pl.col("net_usd").sum().alias("net_usd"),
    pl.col("customer_id").n_unique().cast(pl.Int64).alias("customers"),
    pl.col("order_date").min().alias("first_sale_date"),
    pl.col("order_date").max().alias("last_sale_date"),
]
PRODUCT_SUMMARY = Summary(
    "product_id",
    [str(m.meta.output_name()) for m in PRODUCT_MEASURES],
    lambda lines: lines.filter(SOLD).group_by("product_id").agg(PRODUCT_MEASURES),
)
# Ties in revenue are ranked by product id (the frame is in product order).
CATEGORY_RANK = [
    pl.col("net_usd")
    .rank("ordinal", descending=True)
    .over("category")
    .cast(pl.Int64)
    .alias("rank_in_category"),
    (pl.col("net_usd").cast(pl.Float64) / pl.col("net_usd").sum().over("category").cast(pl.Float64)).alias(
        "share_of_category"
    ),
]


@MART_PRODUCT_PERFORMANCE_TABLE.asset(
    ins={"lines": dg.AssetIn(FACT_ORDER_ITEMS), "products": dg.AssetIn(DIM_PRODUCT)},
    metadata=lineage_metadata(
        [pl.col("product_id"), pl.col("category"), pl.col("name"), *PRODUCT_MEASURES, *CATEGORY_RANK],
        {
            FACT_ORDER_ITEMS: contract_columns(FACT_ORDER_ITEMS_TABLE.contract),
            DIM_PRODUCT: contract_columns(DIM_PRODUCT_TABLE.contract),
        },
        derived=PRODUCT_MEASURES,
    ),
)
def mart_product_performance(
    context: dg.AssetExecutionContext, store: DeltaStore, lines: pl.LazyFrame, products: pl.LazyFrame
) -> dg.Output[pl.LazyFrame] | None:
    """Merged from what the fact changed (`merged_products`: the lines of the days it replaced since
    the mart read it, before and after) when that can be told, else summarised from every line;
    the current category and name, and the rank and share in the category, are taken for all."""
    reads = store.reading(context)
    marks = whole_table_marks(reads.pin(FACT_ORDER_ITEMS), products, "_product_refined_at")
    previous = reads.scan_or_none(MART_PRODUCT_PERFORMANCE)
    if unchanged(previous, marks):
        return None
    change = fact_change(store, MART_PRODUCT_PERFORMANCE, lines, previous, marks)
    if change is None or previous is None:
        summaries, merged = PRODUCT_SUMMARY.summarise(lines), "none: summarised from every line"
    else:
        summaries, merged = merged_products(previous, change), len(change.days)
    current = products.filter("is_current", pl.col("product_id") != UNKNOWN_KEY).select(
        "product_id", "category", "name"
    )
    mart = (
        summaries.join(current, on="product_id", how="left")
        .with_columns(pl.col("category").fill_null("unknown"))
        .sort("product_id")
        .with_columns(CATEGORY_RANK)
    )
    return dg.Output(recorded(mart, marks), metadata={"days_merged": merged})


@dataclass(frozen=True)
class FactChange:
    """The fact's sold lines of the `days` it replaced since a mart last read it, as they were
    (`before`) and as they are (`after`), and its other sold lines (`outside`, unchanged)."""

    days: list[date]
    before: pl.LazyFrame
    after: pl.LazyFrame
    outside: pl.LazyFrame


def fact_change(
    store: DeltaStore,
    mart: dg.AssetKey,
    lines: pl.LazyFrame,
    previous: pl.LazyFrame,
    marks: dict[str, object],
) -> FactChange | None:
    """What the fact changed since the `previous` mart read it: the version its newest commit read,
    and the days replaced after it (from the fact's commit metadata). None when that cannot be
    told, and the mart is then summarised from every line:
    - no mart yet, no read recorded, or the version read can no longer be read (its log or files cleaned up);
    - a commit since that replaced more than days (a merge, a whole overwrite, a restore, an
      erasure's delete) or a vacuum (the version read may have lost its files);
    - the mart was written from a newer fact than this run's `lines` (`marks`: two runs at once;
      merging onto the newer run's rows would count the days between twice), or from another
      version than the one its commit names.
    """
    if previous is None:
        return None
    fact_uri, name = store.uri(FACT_ORDER_ITEMS), table_name(FACT_ORDER_ITEMS)
    version = version_read(store.uri(mart), name)
    replaced = None if version is None else slices_replaced_after(fact_uri, version, reading_version=True)
    mark, now = watermarks(previous, ["_fact_built_at"])["_fact_built_at"], marks["_fact_built_at"]
    if replaced is None or version is None or mark is None or now is None or now < mark:
        return None
    read = PinnedTable(name, fact_uri, version)
    try:
        if read.newest("_built_at") != mark:
            return None
    except (DeltaError, OSError):  # the version read is gone
        return None
    days = pl.Series("order_date", [date.fromisoformat(d) for d in replaced], pl.Date)
    in_days = one_of("order_date", days)
    sold, before = lines.filter(SOLD), read.scan().filter(SOLD, in_days)
    return FactChange(days.to_list(), before, sold.filter(in_days), sold.filter(~in_days))


PRODUCT_DAY_MEASURES = ["orders", "units", "net_usd"]  # additive over days: an order is on one day
BOUGHT = ["product_id", "customer_id"]


def merged_products(previous: pl.LazyFrame, change: FactChange) -> pl.LazyFrame:
    """Each product's summary: the previous one, less its lines of the replaced days as they were,
    plus those lines as they are now. Orders, units and revenue are added and subtracted (an
    order is on one day); a customer is gained or lost with their first or last purchase of the
    product, which only a look at the other days' lines for those pairs tells; the first and last
    sale days are taken again from the other days only for the products whose old ones were on
    a replaced day. So a day's merge reads those days' lines and two columns of the rest.
    """
    before, after = PRODUCT_SUMMARY.summarise(change.before), PRODUCT_SUMMARY.summarise(change.after)
    pairs_before, pairs_after = (lines.select(BOUGHT).unique() for lines in (change.before, change.after))
    pairs = pl.concat([pairs_before, pairs_after]).unique()
    elsewhere = change.outside.select(BOUGHT).join(pairs, on=BOUGHT, how="semi").unique()
    gained, lost = (
        p.join(elsewhere, on=BOUGHT, how="anti").group_by("product_id").agg(pl.len().alias(name))
        for p, name in ((pairs_after, "_gained"), (pairs_before, "_lost"))
    )
    edges = unsettled(previous, after, change.days).select("product_id", pl.lit(True).alias("_edge"))
    other_days = (
        change.outside.join(edges, on="product_id", how="semi")
        .group_by("product_id")
        .agg(pl.col("order_date").min().alias("_first"), pl.col("order_date").max().alias("_last"))
    )
    merged = previous.select("product_id", *PRODUCT_SUMMARY.columns)
    for frame, suffix in ((after, "_after"), (before, "_before")):
        merged = merged.join(
            frame.select("product_id", pl.all().exclude("product_id").name.suffix(suffix)),
            on="product_id",
            how="full",
            coalesce=True,
        )
    for frame in (gained, lost, edges, other_days):
        merged = merged.join(frame, on="product_id", how="left")
    return merged.select(
        "product_id",
        *(_net(c) for c in [*PRODUCT_DAY_MEASURES, "customers"]),
        _edge_day(pl.min_horizontal, "first_sale_date", "_first"),
        _edge_day(pl.max_horizontal, "last_sale_date", "_last"),
    ).filter(pl.col("orders") > 0)


def unsettled(previous: pl.LazyFrame, after: pl.LazyFrame, days: list[date]) -> pl.LazyFrame:
    """The products whose old first (or last) sale was on a replaced day and whose lines of those
    days now do not reach it: only the other days can tell their first (or last) sale now."""
    now = after.select("product_id", pl.col("first_sale_date", "last_sale_date").name.suffix("_now"))
    with_now = previous.join(now, on="product_id", how="left")
    first, first_now = pl.col("first_sale_date"), pl.col("first_sale_date_now")
    last, last_now = pl.col("last_sale_date"), pl.col("last_sale_date_now")
    lost_first = first.is_in(days) & ~(first_now <= first)  # null (no lines now): lost
    lost_last = last.is_in(days) & ~(last_now >= last)
    return with_now.filter(lost_first.fill_null(True) | lost_last.fill_null(True))


def _net(column: str) -> pl.Expr:
    """A measure less its replaced days' old part, plus their new one (customers: those gained and lost)."""
    plus, minus = ("_gained", "_lost") if column == "customers" else (f"{column}_after", f"{column}_before")
    now = pl.col(column).fill_null(0) + pl.col(plus).fill_null(0) - pl.col(minus).fill_null(0)
    return now.alias(column)


def _edge_day(pick: Callable[..., pl.Expr], column: str, other_days: str) -> pl.Expr:
    """The first (or last) sale day: of the other days and the replaced days' new lines, when the old
    one was on a replaced day; else the old one and the new lines'."""
    kept = pl.when(pl.col("_edge").fill_null(False)).then(pl.col(other_days)).otherwise(pl.col(column))
    return pick(kept, pl.col(f"{column}_after")).alias(column)


checks = [
    MART_DAILY_SALES_TABLE.check_step(mart_daily_sales),
    MART_CUSTOMER_RFM_TABLE.check_step(mart_customer_rfm),
    MART_PRODUCT_PERFORMANCE_TABLE.check_step(mart_product_performance),
]
