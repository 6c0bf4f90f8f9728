"""The SQL mart's checks: its key and schema, and its revenue reconciled in SQL over the catalog's
views of the revenue tables, at their current snapshots (as `views_over` builds them: the catalog
itself is published only at the end of the run, and a run of one layer has none)."""

import dagster as dg

from lakehouse.defs.curated.facts import FACT_ORDER_ITEMS
from lakehouse.defs.curated.marts import MART_DAILY_SALES
from lakehouse.defs.serving.monthly_revenue import (
    MART_MONTHLY_REVENUE,
    MART_MONTHLY_REVENUE_TABLE,
    mart_monthly_revenue,
)
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.serving.catalog import views_over
from lakehouse.serving.resource import ServingCatalog

REVENUE_TABLES = [".".join(key.path) for key in (FACT_ORDER_ITEMS, MART_DAILY_SALES, MART_MONTHLY_REVENUE)]

# Net revenue of sold lines (cancelled orders excluded), as the fact and each revenue mart total it.
REVENUE_TOTALS = """
SELECT
    (SELECT coalesce(sum(net_usd), 0) FROM curated.fact_order_items WHERE order_status <> 'cancelled'),
    (SELECT coalesce(sum(net_usd), 0) FROM curated.mart_daily_sales),
    (SELECT coalesce(sum(net_usd), 0) FROM curated.mart_monthly_revenue)
"""


@dg.asset_check(
    asset=MART_MONTHLY_REVENUE,
    additional_deps=[MART_DAILY_SALES],  # in a run building both, judged once both are written
    name="revenue_reconciles",
    description=(
        "The monthly revenue mart's total equals the daily sales mart's and the net revenue of the "
        "sold order lines, to the cent (in SQL over the catalog's views)."
    ),
)
def revenue_reconciles(store: DeltaStore, serving_catalog: ServingCatalog) -> dg.AssetCheckResult:
    with views_over(serving_catalog, store.root, REVENUE_TABLES) as con:
        fact, daily, monthly = con.sql(REVENUE_TOTALS).fetchall()[0]
    return dg.AssetCheckResult(
        passed=fact == daily == monthly,
        metadata={
            "fact_order_items_net_usd": str(fact),
            "mart_daily_sales_net_usd": str(daily),
            "mart_monthly_revenue_net_usd": str(monthly),
        },
    )


mart_checks = [MART_MONTHLY_REVENUE_TABLE.check_step(mart_monthly_revenue)]
