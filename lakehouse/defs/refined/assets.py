"""Every refined table with a Python transform, built by the one factory.

A declared source links to one of these with `refine: <its name>`; a source declared with an inline
`contract` gets its refined table from its component (`lakehouse.components`)."""

from lakehouse.defs.refined.customers import CUSTOMERS
from lakehouse.defs.refined.events import EVENTS
from lakehouse.defs.refined.exchange_rates import EXCHANGE_RATES
from lakehouse.defs.refined.order_items import ORDER_ITEMS
from lakehouse.defs.refined.orders import ORDERS
from lakehouse.defs.refined.payments import PAYMENTS
from lakehouse.defs.refined.products import PRODUCTS
from lakehouse.defs.refined.refine import build_refined_asset

REFINED_TABLES = (CUSTOMERS, PRODUCTS, ORDERS, ORDER_ITEMS, EXCHANGE_RATES, PAYMENTS, EVENTS)
refined_assets = [build_refined_asset(t) for t in REFINED_TABLES]
