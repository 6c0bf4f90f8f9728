"""Checks over every raw table: volume and null-rate anomalies against its own history, and
column changes between materialisations. Warnings, never blocking."""

from lakehouse.defs.raw.events import raw_events
from lakehouse.defs.raw.exchange_rates import raw_exchange_rates
from lakehouse.defs.raw.files import raw_file_assets
from lakehouse.defs.raw.shop_tables import raw_shop_assets
from lakehouse.lib.quality.anomaly import null_rate_anomaly_check, volume_anomaly_check
from lakehouse.lib.quality.checks import schema_change_checks

RAW_ASSETS = [*raw_shop_assets, *raw_file_assets, raw_exchange_rates, raw_events]
RAW_KEYS = [key for asset in RAW_ASSETS for key in asset.keys if key.path[0] == "raw"]

raw_checks = [
    *(volume_anomaly_check(key) for key in RAW_KEYS),
    *(null_rate_anomaly_check(key) for key in RAW_KEYS),
    *schema_change_checks(RAW_ASSETS),
]
