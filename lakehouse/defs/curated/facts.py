"""Facts: order lines and payments, money in USD, keyed to the dimensions, built incrementally.

Each fact is replaced day by day: a run rebuilds only the days whose refined inputs changed
(see `incremental`), so one new day of data rewrites a few days, not the whole history.

Order lines are converted with their currency's rate of the order day (`refined/exchange_rates`).
A line whose day has no rate yet is held back, never guessed or left unconverted: the asset
reports those orders (metadata `orders_waiting_for_rate`, a warning naming currency and day), and
the run that brings the rate rebuilds the day, since rates refined after the fact was last built
(its newest `_built_at`) rebuild the days that use them; a restated rate does the same.
Payments are converted the same way, at the rate of their settlement day (`payments_waiting_for_rate`).
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

import dagster as dg
import pandera.polars as pa
import polars as pl

from lakehouse.defs.curated.dimensions import (
    DIM_CUSTOMER,
    DIM_CUSTOMER_TABLE,
    DIM_DATE,
    DIM_PRODUCT,
    DIM_PRODUCT_TABLE,
    REFINED_ORDERS,
    REFINED_PAYMENTS,
)
from lakehouse.defs.curated.lineage import lineage_metadata, refined_columns
from lakehouse.defs.refined.exchange_rates import EXCHANGE_RATES
from lakehouse.defs.refined.orders import STATUSES
from lakehouse.lib.currency import CURRENCIES, MONEY, to_usd, with_rate_of_day
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.incremental import (
    REBUILD_FROM,
    Target,
    affected,
    changed_members,
    changed_since,
    day_batches,
    days,
    one_of,
    rows_of,
    watermarks,
)
from lakehouse.lib.key_buckets import looked_up, within_range_of
from lakehouse.lib.keys import date_key, lookup_version
from lakehouse.lib.partitions import DAY_SLICED, with_backfill
from lakehouse.lib.quality.contract import (
    Contract,
    Money,
    Rate,
    UtcTimestamp,
    built_at,
    contract_columns,
    pii,
    references,
    refined_at,
)
from lakehouse.lib.quality.run_warnings import warning_metadata
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import REPLACED_SLICES

log = dg.get_dagster_logger(__name__)


class FactOrderItemsContract(Contract):
    order_id: pl.Int64 = pa.Field(nullable=False, description="The order.")
    line_no: pl.Int64 = pa.Field(nullable=False, description="Line number within the order.")
    order_date_key: pl.Int32 = pa.Field(
        nullable=False,
        description="Order day (UTC) as yyyymmdd: dim_date.",
        metadata=references(DIM_DATE, "date_key"),
    )
    order_date: pl.Date = pa.Field(nullable=False, description="Order day (UTC).")
    order_month: pl.Date = pa.Field(nullable=False, description="First day of the order's month (storage).")
    order_at: UtcTimestamp = pa.Field(nullable=False, description="When the order was placed (UTC).")
    customer_key: pl.Int64 = pa.Field(
        nullable=False,
        description="dim_customer key (-1: unknown).",
        metadata=references(DIM_CUSTOMER, "customer_key"),
    )
    product_key: pl.Int64 = pa.Field(
        nullable=False,
        description="dim_product key (-1: unknown).",
        metadata=references(DIM_PRODUCT, "product_key"),
    )
    customer_id: pl.Int64 = pa.Field(
        nullable=False, description="The shop's customer id.", metadata=pii("indirect")
    )
    product_id: pl.Int64 = pa.Field(nullable=False, description="The shop's product id.")
    order_status: pl.String = pa.Field(nullable=False, isin=STATUSES, description="Latest order status.")
    channel: pl.String = pa.Field(nullable=True, description="Sales channel (web, app, ...).")
    currency: pl.String = pa.Field(nullable=False, description="ISO currency of the order.")
    quantity: pl.Int64 = pa.Field(nullable=False, gt=0, description="Units ordered.")
    unit_price: Money = pa.Field(nullable=False, ge=0, description="Unit price in the order's currency.")
    gross_amount: Money = pa.Field(nullable=False, description="quantity x unit_price, local currency.")
    discount_amount: Money = pa.Field(nullable=False, ge=0, description="Discount, local currency.")
    net_amount: Money = pa.Field(nullable=False, description="gross - discount, local currency.")
    usd_rate: Rate = pa.Field(nullable=False, gt=0, description="USD per unit of the order's currency.")
    gross_usd: Money = pa.Field(nullable=False, description="Gross in USD, rounded to cents.")
    discount_usd: Money = pa.Field(nullable=False, description="Discount in USD, rounded to cents.")
    net_usd: Money = pa.Field(nullable=False, description="gross_usd - discount_usd: the revenue measure.")
    line_refined_at: UtcTimestamp = refined_at("line", "_line_refined_at")
    order_refined_at: UtcTimestamp = refined_at("order header", "_order_refined_at")
    built_at: UtcTimestamp = built_at()


class FactPaymentsContract(Contract):
    payment_id: pl.String = pa.Field(nullable=False, description="The provider's payment id.")
    order_id: pl.Int64 = pa.Field(nullable=False, description="The order paid.")
    customer_key: pl.Int64 = pa.Field(
        nullable=False,
        description="dim_customer version when the order was placed (-1: order not refined).",
        metadata=references(DIM_CUSTOMER, "customer_key"),
    )
    customer_id: pl.Int64 = pa.Field(
        nullable=True, description="The order's customer (null: order not refined).", metadata=pii("indirect")
    )
    settled_date_key: pl.Int32 = pa.Field(
        nullable=False,
        description="Settlement day as yyyymmdd: dim_date.",
        metadata=references(DIM_DATE, "date_key"),
    )
    settled_date: pl.Date = pa.Field(nullable=False, description="Settlement day (UTC).")
    settled_at: UtcTimestamp = pa.Field(nullable=False, description="When the payment settled (UTC).")
    method: pl.String = pa.Field(nullable=True, description="Payment method.")
    currency: pl.String = pa.Field(nullable=False, description="ISO currency of the payment.")
    amount: Money = pa.Field(nullable=False, description="Amount in its currency.")
    usd_rate: Rate = pa.Field(nullable=False, gt=0, description="USD per unit of the currency.")
    amount_usd: Money = pa.Field(nullable=False, description="Amount in USD, rounded to cents.")
    refined_at: UtcTimestamp = refined_at("payment")
    built_at: UtcTimestamp = built_at()


FACT_ORDER_ITEMS_TABLE = TableSpec(
    layer="curated",
    name="fact_order_items",
    description=(
        "Order lines (grain: one order line): gross, discount and net in local currency and in USD "
        "at the rate of the order day."
    ),
    contract=FactOrderItemsContract,
    key=("order_id", "line_no"),
    grain="order line",
    # Stored by month: replacing a day rewrites only its month's files, and no global sort.
    write=write_spec.overwrite_partition("order_date", partition_by=("order_month",)),
    partitions=DAY_SLICED,
    freshness=DAILY,
)
FACT_PAYMENTS_TABLE = TableSpec(
    layer="curated",
    name="fact_payments",
    description=(
        "Settled payments (grain: one payment), amount in its currency and in USD at the rate of the "
        "settlement day, keyed to the version of the order's customer valid when the order was placed."
    ),
    contract=FactPaymentsContract,
    key=("payment_id",),
    grain="payment",
    slice_by="settled_date",
    partitions=DAY_SLICED,
    freshness=DAILY,
)
FACT_ORDER_ITEMS, FACT_PAYMENTS = FACT_ORDER_ITEMS_TABLE.asset_key, FACT_PAYMENTS_TABLE.asset_key
ORDER_COLUMNS = ("order_id", "customer_id", "order_at", "order_date", "status", "currency", "channel")
LINE_WATERMARKS = ["_line_refined_at", "_order_refined_at"]
REFINED_ITEMS = dg.AssetKey(["refined", "order_items"])
ORDER_AT = pl.col("order_at")  # when a line takes its dimension versions
REFINED_RATES = EXCHANGE_RATES.refined_key
DAYS_SHOWN = 5  # currency-days named in the warning about orders waiting for a rate
# Rows held back, by reason: counted as warnings of the run (summary, report), not only logged.
ORDERS_WAITING = "orders held back: no USD rate of their day yet"
PAYMENTS_WAITING = "payments held back: no USD rate of their day yet"

# An order line's money, computed in three steps (each uses the one before).
LINE_AMOUNTS = [
    [
        (pl.col("quantity") * pl.col("unit_price")).cast(MONEY).alias("gross_amount"),
        pl.col("discount").alias("discount_amount"),
    ],
    [
        (pl.col("gross_amount") - pl.col("discount_amount")).cast(MONEY).alias("net_amount"),
        to_usd(pl.col("gross_amount"), pl.col("usd_rate")).alias("gross_usd"),
        to_usd(pl.col("discount_amount"), pl.col("usd_rate")).alias("discount_usd"),
    ],
    [(pl.col("gross_usd") - pl.col("discount_usd")).cast(MONEY).alias("net_usd")],
]
FACT_LINE_COLUMNS = [
    pl.col("order_id"),
    pl.col("line_no"),
    date_key(pl.col("order_date")).alias("order_date_key"),
    pl.col("order_date"),
    pl.col("order_date").dt.month_start().alias("order_month"),
    pl.col("order_at"),
    pl.col("customer_key"),
    pl.col("product_key"),
    pl.col("customer_id"),
    pl.col("product_id"),
    pl.col("status").alias("order_status"),
    *map(pl.col, ["channel", "currency", "quantity", "unit_price", "gross_amount", "discount_amount"]),
    *map(pl.col, ["net_amount", "usd_rate", "gross_usd", "discount_usd", "net_usd", *LINE_WATERMARKS]),
]
SETTLED_DATE = pl.col("settled_at").dt.date().alias("settled_date")
PAYMENT_ORDER = ["order_id", "customer_id", "order_at"]  # what a payment takes from its order
PAYMENT_AT = pl.coalesce("order_at", "settled_at")  # when a payment takes its customer's version
PAYMENT_COLUMNS = [
    pl.col("payment_id"),
    pl.col("order_id"),
    pl.col("customer_key"),
    pl.col("customer_id"),
    date_key(pl.col("settled_date")).alias("settled_date_key"),
    pl.col("settled_date"),
    *map(pl.col, ["settled_at", "method", "currency", "amount", "usd_rate"]),
    to_usd(pl.col("amount"), pl.col("usd_rate")).alias("amount_usd"),
    pl.col("_refined_at"),
]


def built_now() -> pl.Expr:
    """The `_built_at` column: when the row was built (the watermark for rates and dimensions)."""
    return pl.lit(datetime.now(UTC), pl.Datetime("us", "UTC")).alias("_built_at")


def order_lines(items: pl.LazyFrame, orders: pl.LazyFrame, rates: pl.LazyFrame) -> pl.LazyFrame:
    """Order lines with their order's header and money in local currency and USD.

    A line whose order is not refined (its header is in quarantine) is held back, not guessed; so
    is a line whose order day has no rate for its currency yet (see `orders_waiting_for_rate`).
    """
    header = orders.select(*ORDER_COLUMNS, pl.col("_refined_at").alias("_order_refined_at"))
    # the rate is the order's (its day and currency): joined to the orders, not to their lines
    header = with_rate_of_day(header, rates, pl.col("order_date")).filter(pl.col("usd_rate").is_not_null())
    lines = items.rename({"_refined_at": "_line_refined_at"}).join(header, on="order_id", how="inner")
    for step in LINE_AMOUNTS:
        lines = lines.with_columns(step)
    return lines


def waiting_for_rate(rows: pl.LazyFrame, rates: pl.LazyFrame, day: str) -> pl.DataFrame:
    """Rows whose `day` has no rate for their currency, counted by `currency` and day (`rows`)."""
    return (
        with_rate_of_day(rows.select("currency", day), rates, pl.col(day))
        .filter(pl.col("usd_rate").is_null())
        .group_by("currency", day)
        .agg(pl.len().alias("rows"))
        .sort(day, "currency")
        .collect()
    )


def held_back(rows: pl.LazyFrame, rates: pl.LazyFrame, day: str, what: str) -> int:
    """Warn about the rows held back for want of their day's rate, naming currency and day; their number."""
    waiting = waiting_for_rate(rows, rates, day)
    if waiting.height:
        shown = ", ".join(f"{c} on {d} ({n})" for c, d, n in waiting.head(DAYS_SHOWN).iter_rows())
        more = f" and {waiting.height - DAYS_SHOWN} more" if waiting.height > DAYS_SHOWN else ""
        log.warning(f"{what} held back, no USD rate of their day yet: {shown}{more}")
    return int(waiting["rows"].sum())


def days_of_changed_rates(
    rows: pl.LazyFrame,
    rates: pl.LazyFrame,
    since: datetime | None,
    day: str,
    on_days: Callable[[list[date]], pl.Expr],
) -> pl.LazyFrame:
    """The days of `rows` whose currency's rate of the day was refined after `since` (new, restated,
    or the one a held-back row was waiting for).

    The changed rates are a few rows, collected first: their days choose the rows by `on_days`, a
    filter a scan prunes files by. A range on `day` could not do that when the day is derived (a
    payment's from `settled_at`): every row's time and currency were read each run."""
    changed = changed_since(rates, since).select(pl.col("date").alias(day), "currency")

    def on_changed_days(found: pl.DataFrame) -> pl.Expr:
        return on_days(found.get_column(day).unique().to_list())

    return looked_up(rows, changed, [day, "currency"], where=on_changed_days).select(day)


def order_days_to_rebuild(
    current: Target | None,
    items: pl.LazyFrame,
    orders: pl.LazyFrame,
    rates: pl.LazyFrame,
    customers: pl.LazyFrame,
    products: pl.LazyFrame,
) -> list[date] | None:
    """Order days whose lines, orders, rates or dimension members changed (None: all).

    A rate counts as changed when refined after the fact was last built (new, restated, or the
    one a held-back line was waiting for); the days with orders in its currency are rebuilt. So does
    a customer or product refined after it (late-arriving, or with a new version): the days of its
    orders from its change on (see `changed_members`) are rebuilt, so each line points to the
    version valid at its order time.
    """
    marks = watermarks(current, [*LINE_WATERMARKS, "_built_at"])
    if marks is None:  # no fact yet: build every day
        return None
    changed_lines = changed_since(items, marks["_line_refined_at"]).select("order_id")
    changed_orders = changed_since(orders, marks["_order_refined_at"])
    touched = pl.concat([changed_lines, changed_orders.select("order_id")])
    # Members refined since: new (a fact on the unknown member finds it) or with new versions.
    changed_customers = changed_members(customers, marks["_built_at"], "customer_id")
    changed_products = changed_members(products, marks["_built_at"], "product_id")
    return days(
        changed_orders.select("order_date"),
        looked_up(orders, changed_lines, ["order_id"]).select("order_date"),
        # the days the fact holds those orders on now: an order that moved day leaves its old one
        looked_up(rows_of(current), touched, ["order_id"]).select("order_date"),
        lines_of_changed(items, orders, changed_products).select("order_date"),
        affected(orders, changed_customers, "customer_id", ORDER_AT).select("order_date"),
        days_of_changed_rates(orders, rates, marks["_built_at"], "order_date", partial(one_of, "order_date")),
    )


def earliest_change_day(members: pl.LazyFrame) -> date | None:
    """The day from which on the facts of changed `members` (`changed_members`) may point to
    another version: their earliest `REBUILD_FROM`'s; None when some member is new (all its facts
    are rebuilt), `date.max` when none changed. A day's changes are recent, so the rows from that
    day on (which a scan prunes by) are a few days', not the history's."""
    rebuild_from = pl.col(REBUILD_FROM)
    start, new = members.select(rebuild_from.min(), rebuild_from.null_count().alias("new")).collect().row(0)
    if new:
        return None
    return date.max if start is None else start.date()


def lines_of_changed(items: pl.LazyFrame, orders: pl.LazyFrame, products: pl.LazyFrame) -> pl.LazyFrame:
    """The lines (with their order's time and day) of the changed `products` that may point to
    another version of them now: the lines of the orders from their `earliest_change_day` on,
    looked up by their ids' range (a semi join of every line to the products read 9M lines at
    scale 3, 0.26 s of CPU, with no product changed at all). With a new product, every line is
    joined to the products first (a few), then to their orders."""
    when = orders.select("order_id", "order_at", "order_date")
    lines, since = items.select("order_id", "product_id"), earliest_change_day(products)
    if since is not None:
        lines = looked_up(lines, when.filter(pl.col("order_date") >= since), ["order_id"])
    of_products = lines.join(products, on="product_id", how="semi")
    return affected(of_products.join(when, on="order_id"), products, "product_id", ORDER_AT)


def replacing(
    frame: pl.LazyFrame | RowBatches, rebuilt: list[date] | None, metadata: dict[str, object] | None = None
) -> dg.Output:
    """The output of a day-by-day rebuild: all days, or exactly the `rebuilt` ones."""
    if rebuilt is None:
        return dg.Output(frame, metadata={"days_rebuilt": "all", **(metadata or {})})
    return dg.Output(
        frame,
        metadata={
            "days_rebuilt": len(rebuilt),
            REPLACED_SLICES: [d.isoformat() for d in rebuilt],
            **(metadata or {}),
        },
    )


def replacing_by_days(
    build: Callable[[list[date]], pl.LazyFrame],
    rebuilt: list[date] | None,
    day_rows: pl.LazyFrame,
    batch_rows: int,
    metadata: dict[str, object] | None = None,
    rows_per_row: float = 1.0,
) -> dg.Output[RowBatches]:
    """The output of a day-by-day rebuild: every day, or exactly the `rebuilt` ones, built by `build`
    a few days at a time (`day_batches`).

    `day_rows` (one column: the day of each source row) and `rows_per_row` (rows the build reads
    per source row: order lines per order, say) size the batches. A full build lists every day; an
    incremental one counts only the rows of the days it rebuilds (a filter the files' statistics
    mostly answer), so sizing follows those days, not the history.
    """
    every = days(day_rows) if rebuilt is None else rebuilt
    day = day_rows.collect_schema().names()[0]
    chosen = day_rows if rebuilt is None else day_rows.filter(one_of(day, rebuilt))
    rows = chosen.select(pl.len()).collect().item() * rows_per_row
    return replacing(day_batches(build, every, rows / max(1, len(every)), batch_rows), rebuilt, metadata)


def count(frame: pl.LazyFrame) -> int:
    """The rows of `frame`, counted by the streaming engine (memory bounded whatever the plan)."""
    return frame.select(pl.len()).collect(engine="streaming").item()


def days_short_of_rates(orders: pl.LazyFrame, rates: pl.LazyFrame) -> list[date]:
    """The order days (from the first to the last) lacking a rate of some currency: the only days
    an order can wait for its rate on (few: the newest, until the provider publishes)."""
    span = orders.select(pl.col("order_date").min().alias("first"), pl.col("order_date").max().alias("last"))
    first, last = span.collect().row(0)
    if first is None:
        return []
    complete = (
        rates.filter(pl.col("currency").is_in(CURRENCIES))
        .group_by("date")
        .agg(pl.col("currency").n_unique().alias("currencies"))
        .filter(pl.col("currencies") == len(CURRENCIES))
        .collect()
        .get_column("date")
    )
    every = pl.date_range(first, last, eager=True)
    return every.filter(~every.is_in(complete.implode())).to_list()


def lines_without_order(
    items: pl.LazyFrame,
    orders: pl.LazyFrame,
    rates: pl.LazyFrame,
    current: pl.LazyFrame | None,
    rebuilt: list[date] | None,
) -> int:
    """The order lines held back because their order is not refined (in quarantine, or not come).

    A full build counts them by an anti join of every line with every order. An incremental one
    counts them from what the fact holds once the run has written, without that join (0.8 s of
    CPU at scale 3, growing with the history): the fact then holds every line of a refined order
    with a rate of its day, as a full rebuild would. So the lines are those of `items` less the
    fact's lines on the days not rebuilt (its rows now, less those of the `rebuilt` days), less
    every line of the rebuilt days' orders, less the lines waiting for a rate on the other days
    (only on a day short of rates: `days_short_of_rates`).
    """
    if current is None or rebuilt is None:
        return count(items.join(orders, on="order_id", how="anti"))
    kept = count(current) - count(current.filter(one_of("order_date", rebuilt)))
    lines = count(items) - kept - lines_counted(items, orders.filter(one_of("order_date", rebuilt)))
    others = sorted(set(days_short_of_rates(orders, rates)) - set(rebuilt))
    if others:
        of_others = orders.filter(one_of("order_date", others)).select("order_id", "order_date", "currency")
        waiting = with_rate_of_day(of_others, rates, pl.col("order_date"))
        lines -= lines_counted(items, waiting.filter(pl.col("usd_rate").is_null()))
    return lines


def lines_counted(items: pl.LazyFrame, orders: pl.LazyFrame) -> int:
    """How many of `items` are lines of `orders` (a few days' worth), looked up in their range."""
    return count(looked_up(items, orders.select("order_id"), ["order_id"]))


@FACT_ORDER_ITEMS_TABLE.asset(
    ins={
        "items": dg.AssetIn(REFINED_ITEMS),
        "orders": dg.AssetIn(REFINED_ORDERS),
        "rates": dg.AssetIn(REFINED_RATES),
        "customers": dg.AssetIn(DIM_CUSTOMER),
        "products": dg.AssetIn(DIM_PRODUCT),
    },
    metadata=lineage_metadata(
        FACT_LINE_COLUMNS,
        {
            REFINED_ITEMS: refined_columns(REFINED_ITEMS),
            REFINED_ORDERS: refined_columns(REFINED_ORDERS),
            REFINED_RATES: refined_columns(REFINED_RATES),
            DIM_CUSTOMER: contract_columns(DIM_CUSTOMER_TABLE.contract),
            DIM_PRODUCT: contract_columns(DIM_PRODUCT_TABLE.contract),
        },
        derived=[expr for step in LINE_AMOUNTS for expr in step],
    ),
)
def fact_order_items(
    context: dg.AssetExecutionContext,
    store: DeltaStore,
    items: pl.LazyFrame,
    orders: pl.LazyFrame,
    rates: pl.LazyFrame,
    customers: pl.LazyFrame,
    products: pl.LazyFrame,
) -> dg.Output[RowBatches]:
    current = store.reading(context).pin(FACT_ORDER_ITEMS)
    rebuilt = with_backfill(
        context, order_days_to_rebuild(current, items, orders, rates, customers, products)
    )
    headless = lines_without_order(items, orders, rates, rows_of(current), rebuilt)
    chosen = orders if rebuilt is None else orders.filter(one_of("order_date", rebuilt))
    waiting = held_back(chosen, rates, "order_date", "orders")
    built = built_now()

    def lines_of(days: list[date]) -> pl.LazyFrame:
        day_orders = orders.filter(one_of("order_date", days))
        # the lines within the orders' id range (files skipped by it); the join keeps their own
        lines = order_lines(within_range_of(items, day_orders, ["order_id"]), day_orders, rates)
        lines = lookup_version(lines, customers, "customer_id", "customer_key", "order_at")
        lines = lookup_version(lines, products, "product_id", "product_key", "order_at")
        return lines.select(*FACT_LINE_COLUMNS, built)

    held = {ORDERS_WAITING: waiting, "order lines held back: their order is not refined": headless}
    metadata = {"orders_waiting_for_rate": waiting, **warning_metadata(held_back=held)}
    lines_per_order = count(items) / max(1, count(orders))
    day_rows = orders.select("order_date")
    return replacing_by_days(lines_of, rebuilt, day_rows, store.batch_rows, metadata, lines_per_order)


def settled_on(days: list[date]) -> pl.Expr:
    """Payments settled on one of `days`. Their day is derived from `settled_at`, so the range of
    `settled_at` is asked too: a scan then skips the other days' row groups by their statistics
    (the day alone made every batch of a full build, and every incremental, read every payment)."""
    on_days = one_of("settled_date", days)
    if not days:
        return on_days
    start, end = (datetime.combine(d, time(), UTC) for d in (min(days), max(days) + timedelta(days=1)))
    return on_days & pl.col("settled_at").is_between(start, end, closed="left")


def payment_days_to_rebuild(
    current: Target | None,
    payments: pl.LazyFrame,
    rates: pl.LazyFrame,
    orders: pl.LazyFrame,
    customers: pl.LazyFrame,
) -> list[date] | None:
    """Settlement days with new or re-sent payments, or whose rate, order or customer changed
    (None: all). `payments` are the refined ones with their `settled_date`: each is joined to the
    orders it needs here (changed ones, or a changed customer's), never to every order."""
    marks = watermarks(current, ["_refined_at", "_built_at"])
    if marks is None:
        return None
    changed = changed_since(payments, marks["_refined_at"])
    # the days the fact holds those payments on now: a re-sent one may move
    held = looked_up(rows_of(current), changed, ["payment_id"])
    changed_orders = changed_since(orders, marks["_built_at"]).select("order_id")
    changed_customers = changed_members(customers, marks["_built_at"], "customer_id")
    orders_of_changed = orders.select(PAYMENT_ORDER).join(changed_customers, on="customer_id", how="semi")
    return days(
        changed.select("settled_date"),
        held.select("settled_date"),
        days_of_changed_rates(payments, rates, marks["_built_at"], "settled_date", settled_on),
        looked_up(payments, changed_orders, ["order_id"]).select("settled_date"),
        affected(
            payments.join(orders_of_changed, on="order_id"), changed_customers, "customer_id", PAYMENT_AT
        ).select("settled_date"),
    )


@FACT_PAYMENTS_TABLE.asset(
    ins={
        "payments": dg.AssetIn(REFINED_PAYMENTS),
        "rates": dg.AssetIn(REFINED_RATES),
        "orders": dg.AssetIn(REFINED_ORDERS),
        "customers": dg.AssetIn(DIM_CUSTOMER),
    },
    metadata=lineage_metadata(
        PAYMENT_COLUMNS,
        {
            REFINED_PAYMENTS: refined_columns(REFINED_PAYMENTS),
            REFINED_RATES: refined_columns(REFINED_RATES),
            REFINED_ORDERS: refined_columns(REFINED_ORDERS),
            DIM_CUSTOMER: contract_columns(DIM_CUSTOMER_TABLE.contract),
        },
        derived=[SETTLED_DATE],
    ),
)
def fact_payments(
    context: dg.AssetExecutionContext,
    store: DeltaStore,
    payments: pl.LazyFrame,
    rates: pl.LazyFrame,
    orders: pl.LazyFrame,
    customers: pl.LazyFrame,
) -> dg.Output[RowBatches]:
    payments = payments.with_columns(SETTLED_DATE)
    current = store.reading(context).pin(FACT_PAYMENTS)
    rebuilt = with_backfill(context, payment_days_to_rebuild(current, payments, rates, orders, customers))
    if rebuilt is not None:
        payments = payments.filter(settled_on(rebuilt))
    waiting = held_back(payments, rates, "settled_date", "payments")
    built = built_now()

    def payments_of(days: list[date]) -> pl.LazyFrame:
        of_days = payments.filter(settled_on(days)).collect()
        paid = orders.filter(one_of("order_id", of_days.get_column("order_id").unique()))
        with_order = of_days.lazy().join(paid.select(PAYMENT_ORDER), on="order_id", how="left")
        converted = with_rate_of_day(with_order, rates, pl.col("settled_date")).filter(
            pl.col("usd_rate").is_not_null()
        )
        # a payment whose order is not refined yet has no customer: the unknown member
        keyed = lookup_version(
            converted.with_columns(PAYMENT_AT.alias("_at")), customers, "customer_id", "customer_key", "_at"
        )
        return keyed.select(*PAYMENT_COLUMNS, built).sort("settled_date", "payment_id")

    held = warning_metadata(held_back={PAYMENTS_WAITING: waiting})
    metadata = {"payments_waiting_for_rate": waiting, **held}
    day_rows = payments.select("settled_date")
    return replacing_by_days(payments_of, rebuilt, day_rows, store.batch_rows, metadata)


checks = [FACT_ORDER_ITEMS_TABLE.check_step(fact_order_items), FACT_PAYMENTS_TABLE.check_step(fact_payments)]
