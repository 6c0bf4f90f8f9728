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
import polars as pl

from lakehouse.defs.curated.facts import FACT_ORDER_ITEMS
from lakehouse.defs.curated.marts import recorded
from lakehouse.defs.curated.monthly_revenue import MART_MONTHLY_REVENUE, MART_MONTHLY_REVENUE_TABLE
from lakehouse.lib.incremental import unchanged
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE
from lakehouse.serving.catalog import views_over
from lakehouse.serving.resource import ServingCatalog

SQL = Path(__file__).with_name("monthly_revenue.sql").read_text()
FACT_VIEW = ".".join(FACT_ORDER_ITEMS.path)


# Each column's source columns in the fact, as the SQL computes them (SQL carries no lineage of its own).
SOURCES = {
    "month": ["order_month"],
    "currency": ["currency"],
    "orders": ["order_id"],
    "customers": ["customer_id"],
    "units": ["quantity"],
    "net_usd": ["net_usd"],
    "share_of_month": ["net_usd", "order_month"],
}
LINEAGE = dg.TableColumnLineage(
    {
        column: [dg.TableColumnDep(asset_key=FACT_ORDER_ITEMS, column_name=s) for s in sources]
        for column, sources in SOURCES.items()
    }
)


@MART_MONTHLY_REVENUE_TABLE.asset(ins={}, deps=[FACT_ORDER_ITEMS], metadata={COLUMN_LINEAGE: LINEAGE})
def mart_monthly_revenue(store: DeltaStore, serving_catalog: ServingCatalog) -> pl.DataFrame | None:
    with views_over(serving_catalog, store.root, [FACT_VIEW]) as con:
        marks = {"_fact_built_at": con.sql(f"SELECT max(_built_at) FROM {FACT_VIEW}").fetchall()[0][0]}
        if unchanged(store.scan_or_none(MART_MONTHLY_REVENUE), marks):
            return None
        mart = con.sql(SQL).pl()
    return recorded(mart.lazy(), marks).collect()
