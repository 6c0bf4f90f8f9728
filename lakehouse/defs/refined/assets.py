"""Every refined table, built by the one factory."""

from lakehouse.defs.refined.customers import CUSTOMERS
from lakehouse.defs.refined.declared import declared_refined_table
from lakehouse.defs.refined.events import EVENTS
from lakehouse.defs.refined.exchange_rates import EXCHANGE_RATES
from lakehouse.defs.refined.order_items import ORDER_ITEMS
from lakehouse.defs.refined.orders import ORDERS
from lakehouse.defs.refined.payments import PAYMENTS
from lakehouse.defs.refined.products import PRODUCTS
from lakehouse.defs.refined.refine import RefinedTable, build_refined_asset
from lakehouse.sources.declared import declarations

# Refined tables with a Python transform; a declared file set names one of these with `refine`.
BUILT_IN_TABLES = (CUSTOMERS, PRODUCTS, ORDERS, ORDER_ITEMS, EXCHANGE_RATES, PAYMENTS, EVENTS)


def _declared_tables() -> list[RefinedTable]:
    """The refined tables declared in `sources.yaml` with an inline contract; checks every `refine` name."""
    built_in = {t.name for t in BUILT_IN_TABLES}
    sources = declarations().sources()
    for name, source in sources.items():
        if source.refine and (source.refine not in built_in or source.refine != name):
            raise ValueError(
                f"sources.yaml: {name}.refine names {source.refine!r}: a built-in refined table "
                f"({', '.join(sorted(built_in))}) reads raw/<its name>, so it must be the source's name"
            )
    return [declared_refined_table(name, source) for name, source in sources.items() if source.contract]


REFINED_TABLES = (*BUILT_IN_TABLES, *_declared_tables())
refined_assets = [build_refined_asset(t) for t in REFINED_TABLES]
