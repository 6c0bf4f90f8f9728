"""A mart defined in SQL: monthly revenue by order currency, over the catalog's curated views.

The SQL (`monthly_revenue.sql`) is what an analyst would run against the catalog. It runs through
the `ServingCatalog` resource on an in-memory connection holding the catalog's view of
`curated.fact_order_items` at its current snapshot: the published catalog is rebuilt only at the
end of the run, after this mart, so it would still show the fact as it was before the run.

It is replaced month by month: a run recomputes only the months of the fact rows built since the
mart was (the SQL's answer filtered to those months, a filter DuckDB pushes down to the fact's
month folders), so a new day recomputes its month, not the history. Each row records the fact's
newest `_built_at` when it was computed; a run in which it has not moved writes nothing.
"""

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.defs.curated.facts import FACT_ORDER_ITEMS
from lakehouse.defs.curated.marts import recorded
from lakehouse.defs.curated.monthly_revenue import MART_MONTHLY_REVENUE, MART_MONTHLY_REVENUE_TABLE
from lakehouse.lib.incremental import changed_since, days, unchanged, watermarks
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE
from lakehouse.lib.storage.write_spec import REPLACED_SLICES
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
def mart_monthly_revenue(
    context: dg.AssetExecutionContext, store: DeltaStore, serving_catalog: ServingCatalog
) -> dg.Output[pl.DataFrame] | None:
    reads = store.reading(context)
    fact = reads.pin(FACT_ORDER_ITEMS)
    marks = {"_fact_built_at": fact.newest("_built_at")}
    previous = reads.scan_or_none(MART_MONTHLY_REVENUE)
    if unchanged(previous, marks):
        return None
    months = months_to_rebuild(previous, fact.scan())
    with views_over(serving_catalog, store.root, [FACT_VIEW]) as con:
        mart = con.sql(of_months(months)).pl()
    return replacing_months(recorded(mart.lazy(), marks).collect(), months)


def months_to_rebuild(previous: pl.LazyFrame | None, fact: pl.LazyFrame) -> list[date] | None:
    """The months of the fact rows built since the mart was (None: every month, no mart yet)."""
    marks = watermarks(previous, ["_fact_built_at"])
    if marks is None:
        return None
    return days(changed_since(fact, marks["_fact_built_at"], "_built_at").select("order_month"))


def of_months(months: list[date] | None) -> str:
    """The SQL, answering for `months` only (None: all)."""
    if months is None:
        return SQL
    listed = ", ".join(f"DATE '{month.isoformat()}'" for month in months) or "NULL"
    return f"SELECT * FROM ({SQL}) WHERE month IN ({listed}) ORDER BY month, currency"


def replacing_months(mart: pl.DataFrame, months: list[date] | None) -> dg.Output[pl.DataFrame]:
    """The output replacing `months` (None: the whole table)."""
    if months is None:
        return dg.Output(mart, metadata={"months_rebuilt": "all"})
    replaced = {REPLACED_SLICES: [m.isoformat() for m in months], "months_rebuilt": len(months)}
    return dg.Output(mart, metadata=replaced)
