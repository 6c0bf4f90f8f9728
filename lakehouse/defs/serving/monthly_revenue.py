"""A mart defined in SQL: monthly revenue by order currency, over the catalog's curated views.

The SQL (`monthly_revenue.sql`) is what an analyst would run against the catalog. It runs through
the `ServingCatalog` resource on an in-memory connection holding the catalog's view of
`curated.fact_order_items` at its current snapshot: the published catalog is rebuilt only at the
end of the run, after this mart, so it would still show the fact as it was before the run.

Like the other whole-table marts it records the fact's newest `_built_at` and writes nothing when
that has not moved.
"""

from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl

from lakehouse import CODE_VERSION
from lakehouse.defs.curated.contracts import MoneyTotal
from lakehouse.defs.curated.facts import FACT_ORDER_ITEMS
from lakehouse.defs.curated.marts import recorded
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.incremental import unchanged
from lakehouse.lib.quality.contract import Contract, UtcTimestamp, enforced
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.serving.catalog import views_over
from lakehouse.serving.resource import ServingCatalog

MART_MONTHLY_REVENUE = dg.AssetKey(["curated", "mart_monthly_revenue"])
SQL = Path(__file__).with_name("monthly_revenue.sql").read_text()
FACT_VIEW = ".".join(FACT_ORDER_ITEMS.path)


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
        nullable=False, alias="_fact_built_at", description="Newest fact row included."
    )

    class Config(Contract.Config):
        unique = ["month", "currency"]  # the table's key


@dg.asset(
    key=MART_MONTHLY_REVENUE,
    deps=[FACT_ORDER_ITEMS],
    description=(
        "Monthly sales by order currency, cancelled orders excluded: orders, customers, units, net "
        "revenue in USD and its share of the month. Defined in SQL over the catalog's curated views."
    ),
    metadata={**write_spec.overwrite(), **enforced(MartMonthlyRevenueContract), "grain": "month x currency"},
    freshness_policy=DAILY,
    group_name="curated",
    kinds={"delta", "duckdb"},
    code_version=CODE_VERSION,
)
def mart_monthly_revenue(store: DeltaStore, serving_catalog: ServingCatalog) -> pl.DataFrame | None:
    with views_over(serving_catalog, Path(store.root), [FACT_VIEW]) as con:
        marks = {"_fact_built_at": con.sql(f"SELECT max(_built_at) FROM {FACT_VIEW}").fetchall()[0][0]}
        if unchanged(store.scan_or_none(MART_MONTHLY_REVENUE), marks):
            return None
        mart = con.sql(SQL).pl()
    return recorded(mart.lazy(), marks).collect()
