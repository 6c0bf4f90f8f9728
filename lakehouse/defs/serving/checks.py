"""The SQL mart's checks: its key and schema, and its revenue reconciled in SQL over the published
catalog (read-only, as an analyst sees it): the check waits for the catalog step of its run."""

import dagster as dg

from lakehouse.defs.serving.catalog import CATALOG
from lakehouse.defs.serving.monthly_revenue import (
    MART_MONTHLY_REVENUE,
    MartMonthlyRevenueContract,
    mart_monthly_revenue,
)
from lakehouse.lib.quality.checks import key_checks, schema_change_checks
from lakehouse.lib.quality.contract import contract_keys
from lakehouse.serving.resource import ServingCatalog

# Net revenue of sold lines (cancelled orders excluded), as the fact and each revenue mart total it.
REVENUE_TOTALS = """
SELECT
    (SELECT coalesce(sum(net_usd), 0) FROM curated.fact_order_items WHERE order_status <> 'cancelled'),
    (SELECT coalesce(sum(net_usd), 0) FROM curated.mart_daily_sales),
    (SELECT coalesce(sum(net_usd), 0) FROM curated.mart_monthly_revenue)
"""


@dg.asset_check(
    asset=MART_MONTHLY_REVENUE,
    additional_deps=[CATALOG],
    name="revenue_reconciles",
    description=(
        "In the published catalog, the monthly revenue mart's total equals the daily sales mart's "
        "and the net revenue of the sold order lines, to the cent."
    ),
)
def revenue_reconciles(serving_catalog: ServingCatalog) -> dg.AssetCheckResult:
    with serving_catalog.get_connection() as con:
        fact, daily, monthly = con.sql(REVENUE_TOTALS).fetchall()[0]
    return dg.AssetCheckResult(
        passed=fact == daily == monthly,
        metadata={
            "fact_order_items_net_usd": str(fact),
            "mart_daily_sales_net_usd": str(daily),
            "mart_monthly_revenue_net_usd": str(monthly),
        },
    )


mart_checks = [
    *key_checks(MART_MONTHLY_REVENUE, contract_keys(MartMonthlyRevenueContract)),
    *schema_change_checks([mart_monthly_revenue]),
]
