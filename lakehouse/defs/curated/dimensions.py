"""Conformed dimensions: customer and product with history (SCD type 2), and the calendar.

Customer and product emit change events (members refined since the last build) and the scd2 write
turns them into versions, sequenced by the source's change time (`updated_at`, or `deleted_at`
for a deletion): only changed members are written,
a late or out-of-order change lands where its time puts it, and a deletion closes the member's
current version. Each has an unknown member (key -1) for facts whose member is missing.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import pandera.polars as pa
import polars as pl

from lakehouse.defs.curated.lineage import lineage_metadata, refined_columns
from lakehouse.lib.incremental import changed_since
from lakehouse.lib.keys import UNKNOWN_KEY, date_key
from lakehouse.lib.quality.contract import Contract, Money, UtcTimestamp, pii, refined_at
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.scd2 import CHANGES, DELETED, IS_CURRENT, IS_DELETED, VALID_FROM, VALID_TO
from lakehouse.lib.storage.store import DeltaStore

REFINED_CUSTOMERS = dg.AssetKey(["refined", "customers"])
REFINED_PRODUCTS = dg.AssetKey(["refined", "products"])
REFINED_ORDERS = dg.AssetKey(["refined", "orders"])
REFINED_PAYMENTS = dg.AssetKey(["refined", "payments"])


class Versioned(Contract):
    """The columns the scd2 write adds to a dimension's versions (see `storage.scd2`)."""

    valid_from: UtcTimestamp = pa.Field(
        nullable=False, description="Source change time (updated_at) from which this version holds."
    )
    valid_to: UtcTimestamp = pa.Field(
        nullable=True, description="When the next version starts (null: current)."
    )
    is_current: pl.Boolean = pa.Field(nullable=False, description="The member's newest version.")
    is_deleted: pl.Boolean = pa.Field(
        nullable=False, description="The member was deleted at valid_from (history columns null)."
    )


class ChangeEvent(Contract):
    """What a dimension asset emits: its members' changes, which the scd2 write turns into versions."""

    deleted: pl.Boolean = pa.Field(
        nullable=False, alias="_deleted", description="The change deletes the member."
    )
    updated_at: UtcTimestamp = pa.Field(
        nullable=False, description="Source change time: sequences the changes."
    )


class CustomerAttributes(Contract):
    customer_id: pl.Int64 = pa.Field(
        nullable=False, description="The shop's customer id (-1: unknown).", metadata=pii("indirect")
    )
    country: pl.String = pa.Field(
        nullable=True,
        description="ISO country code ('unknown' for -1); history kept (a change starts a version).",
    )
    email_hash: pl.String = pa.Field(
        nullable=True, description="HMAC-SHA256 pseudonym of the email (latest).", metadata=pii("indirect")
    )
    signup_date: pl.Date = pa.Field(nullable=True, description="Day the customer signed up (UTC; latest).")
    refined_at: UtcTimestamp = refined_at("customer")


class CustomerChanges(CustomerAttributes, ChangeEvent):
    """Changes of customers, the input of dim_customer's scd2 write."""


class DimCustomerContract(CustomerAttributes, Versioned):
    customer_key: pl.Int64 = pa.Field(
        nullable=False, description="Surrogate key of the version (-1: unknown)."
    )


class ProductAttributes(Contract):
    product_id: pl.Int64 = pa.Field(nullable=False, description="The shop's product id (-1: unknown).")
    category: pl.String = pa.Field(
        nullable=True, description="Lower-case category ('unknown' for -1); history kept."
    )
    list_price_usd: Money = pa.Field(nullable=True, ge=0, description="List price in USD; history kept.")
    sku: pl.String = pa.Field(nullable=True, description="Stock keeping unit (latest).")
    name: pl.String = pa.Field(nullable=True, description="Product name (latest).")
    refined_at: UtcTimestamp = refined_at("product")


class ProductChanges(ProductAttributes, ChangeEvent):
    """Changes of products, the input of dim_product's scd2 write."""


class DimProductContract(ProductAttributes, Versioned):
    product_key: pl.Int64 = pa.Field(
        nullable=False, description="Surrogate key of the version (-1: unknown)."
    )


class DimDateContract(Contract):
    date_key: pl.Int32 = pa.Field(nullable=False, description="The day as yyyymmdd.")
    date: pl.Date = pa.Field(nullable=False, unique=True, description="The day.")
    year: pl.Int32 = pa.Field(nullable=False, description="Calendar year.")
    quarter: pl.Int8 = pa.Field(nullable=False, in_range={"min_value": 1, "max_value": 4}, description="1-4.")
    month: pl.Int8 = pa.Field(nullable=False, in_range={"min_value": 1, "max_value": 12}, description="1-12.")
    month_name: pl.String = pa.Field(nullable=False, description="January ... December.")
    day_of_month: pl.Int8 = pa.Field(nullable=False, description="1-31.")
    day_of_week: pl.Int8 = pa.Field(
        nullable=False, in_range={"min_value": 1, "max_value": 7}, description="ISO weekday, 1 = Monday."
    )
    is_weekend: pl.Boolean = pa.Field(nullable=False, description="Saturday or Sunday.")


# A refined row with `deleted_at` is a deleted member; it still holds the member's last state.
# A change is sequenced by when it happened: an update, or a deletion (found later than the last
# update when the row was purged from the source).
DELETED_AT = pl.col("deleted_at")
CHANGED_AT = pl.max_horizontal("updated_at", DELETED_AT)
JUST_BEFORE = pl.duration(microseconds=1)
CUSTOMER_COLUMNS = [
    pl.col("customer_id"),
    pl.col("country").fill_null("unknown"),
    pl.col("email_hash"),
    pl.col("signup_at").dt.date().alias("signup_date"),
    pl.col("updated_at"),
    DELETED_AT,
    pl.col("_refined_at"),
]
PRODUCT_COLUMNS = [
    pl.col("product_id"),
    pl.col("category").fill_null("unknown"),
    pl.col("unit_price").alias("list_price_usd"),
    pl.col("sku"),
    pl.col("name"),
    pl.col("updated_at"),
    DELETED_AT,
    pl.col("_refined_at"),
]
# The unknown member's one version starts at the epoch, before any fact.
UNKNOWN_SINCE = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Dimension:
    """An SCD2 dimension: its business key, surrogate key, history (tracked) columns and the column
    an unknown member names 'unknown'. The other attributes are type 1 (latest value)."""

    key: str
    surrogate: str
    tracked: list[str]
    unknown_label: str

    def write_spec(self) -> dict[str, object]:
        return write_spec.scd2([self.key], "updated_at", self.tracked, self.surrogate)

    def lineage(self, columns: list[pl.Expr], refined: dg.AssetKey) -> dict[str, object]:
        """Column lineage of the versions: attributes from their refined columns, the version columns
        from the key and the change (update or deletion) time."""
        attributes = [c for c in columns if c.meta.output_name() not in ("updated_at", "deleted_at")]
        versioning = [
            pl.struct(self.key, CHANGED_AT).alias(self.surrogate),
            *(CHANGED_AT.alias(c) for c in (VALID_FROM, VALID_TO, IS_CURRENT)),
            DELETED_AT.alias(IS_DELETED),
        ]
        return lineage_metadata([*attributes, *versioning], {refined: refined_columns(refined)})


CUSTOMER = Dimension("customer_id", "customer_key", ["country"], "country")
PRODUCT = Dimension("product_id", "product_key", ["category", "list_price_usd"], "category")
DIM_CUSTOMER_TABLE = TableSpec(
    layer="curated",
    name="dim_customer",
    description=(
        "Customer dimension, SCD type 2: one row per version of a customer (history of country), "
        "plus the unknown member (key -1). No direct PII."
    ),
    contract=DimCustomerContract,
    writes=CustomerChanges,
    key=(CUSTOMER.surrogate,),
    grain="customer version",
    write=CUSTOMER.write_spec(),
    # A day changes a few existing customers (closed accounts: ~6 of 100k at scale 1), at random
    # over the keys; each rewrites the file holding it. Files of 1 MB (~6k versions, key ranges as
    # written) bound that rewrite: at scale 1 about a third of the dimension instead of all of it.
    file_size=1024 * 1024,
)
DIM_PRODUCT_TABLE = TableSpec(
    layer="curated",
    name="dim_product",
    description=(
        "Product dimension, SCD type 2: one row per version of a product (history of category and list "
        "price), plus the unknown member (key -1)."
    ),
    contract=DimProductContract,
    writes=ProductChanges,
    key=(PRODUCT.surrogate,),
    grain="product version",
    write=PRODUCT.write_spec(),
)
DIM_DATE_TABLE = TableSpec(
    layer="curated",
    name="dim_date",
    description="Calendar dimension: every day from the first order to the last order or settlement.",
    contract=DimDateContract,
    key=("date_key",),
    grain="day",
)
DIM_CUSTOMER, DIM_PRODUCT, DIM_DATE = (
    t.asset_key for t in (DIM_CUSTOMER_TABLE, DIM_PRODUCT_TABLE, DIM_DATE_TABLE)
)


def taken_until(dim: pl.LazyFrame) -> datetime | None:
    """The newest refinement the dimension has taken in, from its versions' change events (which,
    unlike the versions' type 1 columns, include deletions)."""
    return dim.select(pl.col(CHANGES).explode().struct.field("_refined_at").max()).collect().item()


def change_events(rows: pl.LazyFrame) -> pl.LazyFrame:
    """The change events of refined rows: each row's state at its update and, for a deleted row,
    its deletion.

    A deletion version keeps no attributes (history columns null), so a deleted row's state is an
    event of its own, which the deletion closes: at the update, or just before the deletion when
    they are one change (a soft delete moves `updated_at`). A member first seen deleted thus keeps
    its last attributes, for the facts before its deletion.
    """
    state = rows.with_columns(
        pl.min_horizontal("updated_at", DELETED_AT - JUST_BEFORE).alias("updated_at"),
        pl.lit(False).alias(DELETED),
    )
    deletions = rows.filter(DELETED_AT.is_not_null()).with_columns(
        CHANGED_AT.alias("updated_at"), pl.lit(True).alias(DELETED)
    )
    return pl.concat([state, deletions]).drop("deleted_at")


def changes(
    current: pl.LazyFrame | None, refined: pl.LazyFrame, columns: list[pl.Expr], dim: Dimension
) -> pl.LazyFrame:
    """The change events a build writes: of members refined since the dimension last took changes;
    on the first build, of every member, and the unknown member (valid since the epoch)."""
    if current is not None:
        return change_events(changed_since(refined, taken_until(current)).select(columns))
    unknown = pl.LazyFrame(
        {
            dim.key: [UNKNOWN_KEY],
            dim.unknown_label: ["unknown"],
            "updated_at": [UNKNOWN_SINCE],
            DELETED: [False],
        },
        schema_overrides={dim.key: pl.Int64},
    )
    return pl.concat([unknown, change_events(refined.select(columns))], how="diagonal_relaxed")


# The calendar's days span the orders' and the settlements' days.
CALENDAR_DAYS = [pl.col("order_date").alias("date"), pl.col("settled_at").dt.date().alias("date")]
DATE_COLUMNS = [
    date_key(pl.col("date")).alias("date_key"),
    pl.col("date"),
    pl.col("date").dt.year().alias("year"),
    pl.col("date").dt.quarter().alias("quarter"),
    pl.col("date").dt.month().alias("month"),
    pl.col("date").dt.strftime("%B").alias("month_name"),
    pl.col("date").dt.day().alias("day_of_month"),
    pl.col("date").dt.weekday().alias("day_of_week"),
    (pl.col("date").dt.weekday() >= 6).alias("is_weekend"),
]


@DIM_CUSTOMER_TABLE.asset(
    ins={"customers": dg.AssetIn(REFINED_CUSTOMERS)},
    metadata=CUSTOMER.lineage(CUSTOMER_COLUMNS, REFINED_CUSTOMERS),
)
def dim_customer(
    context: dg.AssetExecutionContext, store: DeltaStore, customers: pl.LazyFrame
) -> pl.LazyFrame:
    previous = store.reading(context).scan_or_none(DIM_CUSTOMER)
    return changes(previous, customers, CUSTOMER_COLUMNS, CUSTOMER)


@DIM_PRODUCT_TABLE.asset(
    ins={"products": dg.AssetIn(REFINED_PRODUCTS)},
    metadata=PRODUCT.lineage(PRODUCT_COLUMNS, REFINED_PRODUCTS),
)
def dim_product(context: dg.AssetExecutionContext, store: DeltaStore, products: pl.LazyFrame) -> pl.LazyFrame:
    return changes(store.reading(context).scan_or_none(DIM_PRODUCT), products, PRODUCT_COLUMNS, PRODUCT)


@DIM_DATE_TABLE.asset(
    ins={"orders": dg.AssetIn(REFINED_ORDERS), "payments": dg.AssetIn(REFINED_PAYMENTS)},
    metadata=lineage_metadata(
        DATE_COLUMNS,
        {
            REFINED_ORDERS: refined_columns(REFINED_ORDERS),
            REFINED_PAYMENTS: refined_columns(REFINED_PAYMENTS),
        },
        derived=CALENDAR_DAYS,
    ),
)
def dim_date(orders: pl.LazyFrame, payments: pl.LazyFrame) -> pl.LazyFrame:
    order_days, settlement_days = CALENDAR_DAYS
    days = pl.concat([orders.select(order_days), payments.select(settlement_days)])
    span = days.select(first=pl.col("date").min(), last=pl.col("date").max())
    return span.select(pl.date_ranges("first", "last").explode().alias("date")).select(DATE_COLUMNS)


checks = [
    DIM_CUSTOMER_TABLE.check_step(dim_customer),
    DIM_PRODUCT_TABLE.check_step(dim_product),
    DIM_DATE_TABLE.check_step(dim_date),
]
