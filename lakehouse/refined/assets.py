"""Every refined table, built by the one factory."""

from lakehouse.quality.checks import key_checks, reconciliation_check
from lakehouse.refined.customers import CUSTOMERS
from lakehouse.refined.events import EVENTS
from lakehouse.refined.exchange_rates import EXCHANGE_RATES
from lakehouse.refined.order_items import ORDER_ITEMS
from lakehouse.refined.orders import ORDERS
from lakehouse.refined.payments import PAYMENTS
from lakehouse.refined.products import PRODUCTS
from lakehouse.refined.refine import build_refined_asset

REFINED_TABLES = (CUSTOMERS, PRODUCTS, ORDERS, ORDER_ITEMS, EXCHANGE_RATES, PAYMENTS, EVENTS)
refined_assets = [build_refined_asset(t) for t in REFINED_TABLES]

refined_checks = [
    check
    for t in REFINED_TABLES
    for check in (
        *key_checks(t.refined_key, t.keys),
        reconciliation_check(t.raw_key, t.refined_key, t.quarantine_key, t.keys),
    )
]
