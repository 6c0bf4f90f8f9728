"""The curated star schema and marts, and their checks."""

import dagster as dg

from lakehouse.defs.curated.clickstream import fact_sessions, mart_funnel
from lakehouse.defs.curated.contracts import describing
from lakehouse.defs.curated.dimensions import dim_customer, dim_date, dim_product
from lakehouse.defs.curated.facts import fact_order_items, fact_payments
from lakehouse.defs.curated.inventory import fact_inventory_daily, mart_inventory_health
from lakehouse.defs.curated.marts import mart_customer_rfm, mart_daily_sales, mart_product_performance
from lakehouse.lib.quality.checks import foreign_key_check, key_checks, schema_change_checks
from lakehouse.lib.quality.contract import Contract, contract_keys

curated_assets = [
    dim_customer,
    dim_product,
    dim_date,
    fact_order_items,
    fact_payments,
    fact_sessions,
    fact_inventory_daily,
    mart_daily_sales,
    mart_funnel,
    mart_customer_rfm,
    mart_product_performance,
    mart_inventory_health,
]


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["curated", name])


def table_contract(asset: dg.AssetsDefinition) -> type[Contract]:
    """The contract describing the asset's table."""
    return describing(asset.metadata_by_key[asset.key])


curated_checks = [
    *(
        check
        for asset in curated_assets
        for check in key_checks(asset.key, contract_keys(table_contract(asset)))
    ),
    foreign_key_check(_key("fact_order_items"), "customer_key", _key("dim_customer"), "customer_key"),
    foreign_key_check(_key("fact_order_items"), "product_key", _key("dim_product"), "product_key"),
    foreign_key_check(_key("fact_order_items"), "order_date_key", _key("dim_date"), "date_key"),
    foreign_key_check(_key("fact_payments"), "settled_date_key", _key("dim_date"), "date_key"),
    foreign_key_check(_key("fact_payments"), "customer_key", _key("dim_customer"), "customer_key"),
    foreign_key_check(_key("fact_sessions"), "customer_key", _key("dim_customer"), "customer_key"),
    foreign_key_check(_key("fact_inventory_daily"), "product_key", _key("dim_product"), "product_key"),
    foreign_key_check(_key("fact_inventory_daily"), "snapshot_date_key", _key("dim_date"), "date_key"),
    *schema_change_checks(curated_assets),
]
