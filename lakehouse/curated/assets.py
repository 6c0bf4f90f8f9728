"""The curated star schema and marts, and their checks."""

import dagster as dg

from lakehouse.curated.dimensions import dim_customer, dim_date, dim_product
from lakehouse.curated.facts import fact_order_items, fact_payments
from lakehouse.curated.marts import mart_daily_sales
from lakehouse.quality.checks import foreign_key_check, key_checks

curated_assets = [
    dim_customer,
    dim_product,
    dim_date,
    fact_order_items,
    fact_payments,
    mart_daily_sales,
]


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["curated", name])


curated_checks = [
    *key_checks(_key("dim_customer"), ["customer_key"]),
    *key_checks(_key("dim_product"), ["product_key"]),
    *key_checks(_key("dim_date"), ["date_key"]),
    *key_checks(_key("fact_order_items"), ["order_id", "line_no"]),
    *key_checks(_key("fact_payments"), ["payment_id"]),
    *key_checks(_key("mart_daily_sales"), ["order_date", "category", "country"]),
    foreign_key_check(_key("fact_order_items"), "customer_key", _key("dim_customer"), "customer_key"),
    foreign_key_check(_key("fact_order_items"), "product_key", _key("dim_product"), "product_key"),
    foreign_key_check(_key("fact_order_items"), "order_date_key", _key("dim_date"), "date_key"),
    foreign_key_check(_key("fact_payments"), "settled_date_key", _key("dim_date"), "date_key"),
]
