"""The monthly revenue mart's table: its contract and spec, in the curated layer like every curated
table's (so the data dictionary and the catalog comments describe it). Its asset is defined in SQL
over the catalog's views, through the DuckDB resource: `lakehouse/defs/serving/monthly_revenue.py`.
"""

import pandera.polars as pa
import polars as pl

from lakehouse.lib.freshness import DAILY
from lakehouse.lib.quality.contract import Contract, MoneyTotal, UtcTimestamp
from lakehouse.lib.spec import TableSpec


class MartMonthlyRevenueContract(Contract):
    """Monthly sales by order currency, cancelled orders excluded, in USD (defined in SQL)."""

    month: pl.Date = pa.Field(nullable=False, description="First day of the order month (UTC).")
    currency: pl.String = pa.Field(nullable=False, description="ISO currency the orders were placed in.")
    orders: pl.Int64 = pa.Field(nullable=False, gt=0, description="Distinct orders.")
    customers: pl.Int64 = pa.Field(nullable=False, gt=0, description="Distinct customers who ordered.")
    units: pl.Int64 = pa.Field(nullable=False, gt=0, description="Units sold.")
    net_usd: MoneyTotal = pa.Field(nullable=False, description="Net revenue (gross - discount), USD.")
    share_of_month: pl.Float64 = pa.Field(
        nullable=True, description="Its share of the month's net revenue (null when that is zero)."
    )
    fact_built_at: UtcTimestamp = pa.Field(
        nullable=False,
        alias="_fact_built_at",
        description="The fact's newest row (`_built_at`) when the month was computed.",
    )


MART_MONTHLY_REVENUE_TABLE = TableSpec(
    layer="curated",
    name="mart_monthly_revenue",
    description=(
        "Monthly sales by order currency, cancelled orders excluded: orders, customers, units, net "
        "revenue in USD and its share of the month. Defined in SQL over the catalog's curated views."
    ),
    contract=MartMonthlyRevenueContract,
    key=("month", "currency"),
    grain="month x currency",
    slice_by="month",
    freshness=DAILY,
    kinds=frozenset({"duckdb"}),
)
MART_MONTHLY_REVENUE = MART_MONTHLY_REVENUE_TABLE.asset_key
