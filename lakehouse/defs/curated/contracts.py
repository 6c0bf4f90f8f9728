"""Contracts of the curated tables: each column's type, meaning and rules, in one place.

Every curated write is conformed to its contract (column order and types) and must satisfy all its
rules (see `quality.validation.enforce`). The Dagster column schema and the table's key (`unique`,
checked on each write and by the key checks on the whole table) come from here too. Columns
starting with `_` are bookkeeping for incremental builds (declared by alias: pandera treats
attributes starting with `_` as private).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import pandera.polars as pa
import polars as pl

from lakehouse.defs.refined.orders import STATUSES
from lakehouse.lib.quality.contract import (
    CONTRACT_KEY,
    Contract,
    Money,
    Rate,
    UtcTimestamp,
    contract_named,
    enforced,
    table_schema,
)

MoneyTotal = Annotated[pl.Decimal, 38, 2]
# Definition metadata naming the contract describing a table whose writes satisfy another one.
TABLE_CONTRACT = "lakehouse/table_contract"


def _refined_at(what: str, column: str = "_refined_at") -> object:
    return pa.Field(
        nullable=True, alias=column, description=f"When the {what} was last refined (incremental watermark)."
    )


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
    customer_id: pl.Int64 = pa.Field(nullable=False, description="The shop's customer id (-1: unknown).")
    country: pl.String = pa.Field(
        nullable=True,
        description="ISO country code ('unknown' for -1); history kept (a change starts a version).",
    )
    email_hash: pl.String = pa.Field(
        nullable=True, description="HMAC-SHA256 pseudonym of the email (latest)."
    )
    signup_date: pl.Date = pa.Field(nullable=True, description="Day the customer signed up (UTC; latest).")
    refined_at: UtcTimestamp = _refined_at("customer")


class CustomerChanges(CustomerAttributes, ChangeEvent):
    """Changes of customers, the input of dim_customer's scd2 write."""


class DimCustomerContract(CustomerAttributes, Versioned):
    """Customer dimension, SCD type 2: one row per version of a customer (history of country) plus the
    unknown member (key -1). No direct PII."""

    customer_key: pl.Int64 = pa.Field(
        nullable=False, description="Surrogate key of the version (-1: unknown)."
    )

    class Config(Contract.Config):
        unique = ["customer_key"]  # the table's key


class ProductAttributes(Contract):
    product_id: pl.Int64 = pa.Field(nullable=False, description="The shop's product id (-1: unknown).")
    category: pl.String = pa.Field(
        nullable=True, description="Lower-case category ('unknown' for -1); history kept."
    )
    list_price_usd: Money = pa.Field(nullable=True, ge=0, description="List price in USD; history kept.")
    sku: pl.String = pa.Field(nullable=True, description="Stock keeping unit (latest).")
    name: pl.String = pa.Field(nullable=True, description="Product name (latest).")
    refined_at: UtcTimestamp = _refined_at("product")


class ProductChanges(ProductAttributes, ChangeEvent):
    """Changes of products, the input of dim_product's scd2 write."""


class DimProductContract(ProductAttributes, Versioned):
    """Product dimension, SCD type 2: one row per version of a product (history of category and list
    price) plus the unknown member (key -1)."""

    product_key: pl.Int64 = pa.Field(
        nullable=False, description="Surrogate key of the version (-1: unknown)."
    )

    class Config(Contract.Config):
        unique = ["product_key"]  # the table's key


def versions_enforced(changes: type[Contract], versions: type[Contract]) -> dict[str, object]:
    """Definition metadata of an scd2 dimension: each write (change events) must satisfy `changes`;
    the table (versions) is described by `versions`."""
    return {
        **enforced(changes),
        "dagster/column_schema": table_schema(versions),
        TABLE_CONTRACT: enforced(versions)[CONTRACT_KEY],
    }


def describing(metadata: Mapping[str, object]) -> type[Contract]:
    """The contract describing an asset's table, from its definition metadata."""
    entry = metadata.get(TABLE_CONTRACT, metadata[CONTRACT_KEY])
    return contract_named(getattr(entry, "value", entry))


class DimDateContract(Contract):
    """Calendar dimension: every day from the first order to the last order or settlement."""

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

    class Config(Contract.Config):
        unique = ["date_key"]  # the table's key


class FactOrderItemsContract(Contract):
    """Order lines (grain: one order line), money in local currency and USD."""

    order_id: pl.Int64 = pa.Field(nullable=False, description="The order.")
    line_no: pl.Int64 = pa.Field(nullable=False, description="Line number within the order.")
    order_date_key: pl.Int32 = pa.Field(nullable=False, description="Order day (UTC) as yyyymmdd: dim_date.")
    order_date: pl.Date = pa.Field(nullable=False, description="Order day (UTC).")
    order_month: pl.Date = pa.Field(nullable=False, description="First day of the order's month (storage).")
    order_at: UtcTimestamp = pa.Field(nullable=False, description="When the order was placed (UTC).")
    customer_key: pl.Int64 = pa.Field(nullable=False, description="dim_customer key (-1: unknown).")
    product_key: pl.Int64 = pa.Field(nullable=False, description="dim_product key (-1: unknown).")
    customer_id: pl.Int64 = pa.Field(nullable=False, description="The shop's customer id.")
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
    line_refined_at: UtcTimestamp = _refined_at("line", "_line_refined_at")
    order_refined_at: UtcTimestamp = _refined_at("order header", "_order_refined_at")
    built_at: UtcTimestamp = pa.Field(
        nullable=False, alias="_built_at", description="When this row was built."
    )

    class Config(Contract.Config):
        unique = ["order_id", "line_no"]  # the table's key


class FactPaymentsContract(Contract):
    """Settled payments (grain: one payment), amount in its currency and in USD at the settlement
    day's rate, keyed to the customer version valid when the order was placed."""

    payment_id: pl.String = pa.Field(nullable=False, description="The provider's payment id.")
    order_id: pl.Int64 = pa.Field(nullable=False, description="The order paid.")
    customer_key: pl.Int64 = pa.Field(
        nullable=False, description="dim_customer version when the order was placed (-1: order not refined)."
    )
    customer_id: pl.Int64 = pa.Field(
        nullable=True, description="The order's customer (null: order not refined)."
    )
    settled_date_key: pl.Int32 = pa.Field(nullable=False, description="Settlement day as yyyymmdd: dim_date.")
    settled_date: pl.Date = pa.Field(nullable=False, description="Settlement day (UTC).")
    settled_at: UtcTimestamp = pa.Field(nullable=False, description="When the payment settled (UTC).")
    method: pl.String = pa.Field(nullable=True, description="Payment method.")
    currency: pl.String = pa.Field(nullable=False, description="ISO currency of the payment.")
    amount: Money = pa.Field(nullable=False, description="Amount in its currency.")
    usd_rate: Rate = pa.Field(nullable=False, gt=0, description="USD per unit of the currency.")
    amount_usd: Money = pa.Field(nullable=False, description="Amount in USD, rounded to cents.")
    refined_at: UtcTimestamp = _refined_at("payment")
    built_at: UtcTimestamp = pa.Field(
        nullable=False, alias="_built_at", description="When this row was built."
    )

    class Config(Contract.Config):
        unique = ["payment_id"]  # the table's key


class MartDailySalesContract(Contract):
    """Daily sales by order day, category and country, cancelled orders excluded, in USD."""

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
    customer_refined_at: UtcTimestamp = _refined_at("newest customer", "_customer_refined_at")
    product_refined_at: UtcTimestamp = _refined_at("newest product", "_product_refined_at")

    class Config(Contract.Config):
        unique = ["order_date", "category", "country"]  # the table's key


class FactSessionsContract(Contract):
    """Clickstream sessions (grain: one session), keyed to the customer version valid at their start."""

    session_id: pl.String = pa.Field(nullable=False, description="The user and the session's start time.")
    session_date_key: pl.Int32 = pa.Field(
        nullable=False, description="Start day (UTC) as yyyymmdd: dim_date."
    )
    session_date: pl.Date = pa.Field(nullable=False, description="Day the session started (UTC).")
    session_start: UtcTimestamp = pa.Field(nullable=False, description="First event (UTC).")
    session_end: UtcTimestamp = pa.Field(nullable=False, description="Last event (UTC).")
    duration_seconds: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Last minus first event, seconds."
    )
    user_key: pl.String = pa.Field(
        nullable=False, description="customer:<id> when signed in, else visitor:<anonymous id>."
    )
    customer_key: pl.Int64 = pa.Field(
        nullable=False, description="dim_customer version at the session's start (-1: anonymous or unknown)."
    )
    customer_id: pl.Int64 = pa.Field(nullable=True, description="The signed-in customer, if any.")
    anonymous_id: pl.String = pa.Field(nullable=True, description="The anonymous visitor, if not signed in.")
    channel: pl.String = pa.Field(nullable=True, description="Channel of the first event (web, mobile, ...).")
    events: pl.Int64 = pa.Field(nullable=False, gt=0, description="Events in the session.")
    page_views: pl.Int64 = pa.Field(nullable=False, ge=0, description="page_view events.")
    add_to_carts: pl.Int64 = pa.Field(nullable=False, ge=0, description="add_to_cart events.")
    checkouts: pl.Int64 = pa.Field(nullable=False, ge=0, description="checkout events.")
    purchases: pl.Int64 = pa.Field(nullable=False, ge=0, description="purchase events.")
    order_id: pl.Int64 = pa.Field(nullable=True, description="The order a purchase placed, if any.")
    events_refined_at: UtcTimestamp = _refined_at("session's events", "_events_refined_at")
    built_at: UtcTimestamp = pa.Field(
        nullable=False, alias="_built_at", description="When this row was built."
    )

    class Config(Contract.Config):
        unique = ["session_id"]  # the table's key


class MartFunnelContract(Contract):
    """Conversion funnel by session day and channel: sessions reaching each step, and step conversion."""

    session_date: pl.Date = pa.Field(nullable=False, description="Day the sessions started (UTC).")
    channel: pl.String = pa.Field(nullable=False, description="Channel ('unknown' if none).")
    sessions: pl.Int64 = pa.Field(nullable=False, gt=0, description="Sessions.")
    viewed: pl.Int64 = pa.Field(nullable=False, ge=0, description="Sessions with a page view.")
    carted: pl.Int64 = pa.Field(nullable=False, ge=0, description="Sessions that added to the cart.")
    checked_out: pl.Int64 = pa.Field(nullable=False, ge=0, description="Sessions that reached checkout.")
    purchased: pl.Int64 = pa.Field(nullable=False, ge=0, description="Sessions that purchased.")
    view_to_cart: pl.Float64 = pa.Field(nullable=True, description="carted / viewed (null when none viewed).")
    cart_to_checkout: pl.Float64 = pa.Field(nullable=True, description="checked_out / carted.")
    checkout_to_purchase: pl.Float64 = pa.Field(nullable=True, description="purchased / checked_out.")
    conversion_rate: pl.Float64 = pa.Field(nullable=True, description="purchased / sessions.")
    fact_built_at: UtcTimestamp = pa.Field(
        nullable=False, alias="_fact_built_at", description="Newest fact row included."
    )

    class Config(Contract.Config):
        unique = ["session_date", "channel"]  # the table's key


def _watermark(what: str, column: str) -> object:
    return pa.Field(nullable=True, alias=column, description=f"Newest {what} included (rebuild watermark).")


class MartCustomerRfmContract(Contract):
    """Customers by recency, frequency and monetary value, cancelled orders excluded, in USD.

    Scores are 1-5 from fixed bounds: recency 5/4/3/2 within 30/60/90/180 days, else 1; frequency
    2/3/4/5 from 2/3/4/6 orders, else 1; monetary 2/3/4/5 from 50/150/400/1000 USD, else 1.
    Segments, first match: champion (R>=4, F>=4), loyal (F>=4), new (R>=4, F=1), lost (R=1),
    at_risk (R<=2, F>=2), regular.
    """

    customer_id: pl.Int64 = pa.Field(nullable=False, description="The shop's customer id.")
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
    fact_built_at: UtcTimestamp = _watermark("fact row", "_fact_built_at")
    customer_refined_at: UtcTimestamp = _watermark("customer refinement", "_customer_refined_at")

    class Config(Contract.Config):
        unique = ["customer_id"]  # the table's key


class MartProductPerformanceContract(Contract):
    """Products by sales, cancelled orders excluded, in USD, ranked within their current category."""

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
    fact_built_at: UtcTimestamp = _watermark("fact row", "_fact_built_at")
    product_refined_at: UtcTimestamp = _watermark("product refinement", "_product_refined_at")

    class Config(Contract.Config):
        unique = ["product_id"]  # the table's key


class FactInventoryDailyContract(Contract):
    """Supplier stock per product and day (grain: product x snapshot day), with the day's units sold."""

    snapshot_date: pl.Date = pa.Field(
        nullable=False, description="The day the stock was counted (end of day, UTC)."
    )
    snapshot_date_key: pl.Int32 = pa.Field(nullable=False, description="Snapshot day as yyyymmdd: dim_date.")
    product_id: pl.Int64 = pa.Field(nullable=False, description="The shop's product id.")
    product_key: pl.Int64 = pa.Field(
        nullable=False, description="dim_product version valid at the end of the day (-1: unknown)."
    )
    sku: pl.String = pa.Field(
        nullable=False, description="The product's stock-keeping unit, as the supplier reports it."
    )
    warehouse: pl.String = pa.Field(
        nullable=True, description="Warehouse holding the stock (reported from September 2025)."
    )
    on_hand: pl.Int64 = pa.Field(nullable=False, ge=0, description="Units in stock at the end of the day.")
    on_order: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Units ordered from the supplier, not yet arrived."
    )
    units_sold: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Units on the day's order lines (cancelled orders excluded)."
    )
    is_stock_out: pl.Boolean = pa.Field(nullable=False, description="Nothing in stock at the end of the day.")
    refined_at: UtcTimestamp = _refined_at("snapshot row")
    fact_built_at: UtcTimestamp = _watermark("order-line fact row", "_fact_built_at")
    built_at: UtcTimestamp = pa.Field(
        nullable=False, alias="_built_at", description="When this row was built."
    )

    class Config(Contract.Config):
        unique = ["snapshot_date", "product_id"]  # the table's key


class MartInventoryHealthContract(Contract):
    """Stock health per product on the newest snapshot day: stock-outs and days of cover."""

    product_id: pl.Int64 = pa.Field(nullable=False, description="The shop's product id.")
    category: pl.String = pa.Field(
        nullable=False, description="Current category ('unknown' if not in dim_product)."
    )
    as_of: pl.Date = pa.Field(nullable=False, description="The newest snapshot day.")
    on_hand: pl.Int64 = pa.Field(nullable=False, ge=0, description="Units in stock on that day.")
    on_order: pl.Int64 = pa.Field(nullable=False, ge=0, description="Units on order on that day.")
    units_sold_28d: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Units sold in the 28 days up to and including as_of."
    )
    daily_demand: pl.Float64 = pa.Field(nullable=False, ge=0, description="units_sold_28d / 28.")
    days_of_cover: pl.Float64 = pa.Field(
        nullable=True,
        ge=0,
        description="on_hand / daily_demand: days the stock lasts (null: no recent sales).",
    )
    stock_out_days_28d: pl.Int64 = pa.Field(
        nullable=False, ge=0, le=28, description="Snapshot days out of stock among those 28 days."
    )
    status: pl.String = pa.Field(
        nullable=False,
        isin=["out_of_stock", "at_risk", "healthy", "no_recent_sales"],
        description="out_of_stock (on_hand 0), at_risk (under 7 days of cover), healthy, or no_recent_sales.",
    )
    fact_built_at: UtcTimestamp = _watermark("inventory fact row", "_fact_built_at")
    product_refined_at: UtcTimestamp = _watermark("product refinement", "_product_refined_at")

    class Config(Contract.Config):
        unique = ["product_id"]  # the table's key
