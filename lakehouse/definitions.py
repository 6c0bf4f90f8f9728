"""The one Definitions object: assets, checks, jobs, schedules, sensors and resources."""

import os
import warnings

import dagster as dg

from lakehouse.curated.assets import curated_assets, curated_checks
from lakehouse.orchestration.alerts import Alerts, run_failure_alert_sensor
from lakehouse.orchestration.jobs import build_lakehouse
from lakehouse.orchestration.maintenance import maintain_lakehouse, weekly_maintenance
from lakehouse.orchestration.schedules import daily_build, source_schedules
from lakehouse.orchestration.sensors import clickstream_sensor, file_set_sensors
from lakehouse.privacy import Pseudonymiser
from lakehouse.quality.anomaly import (
    distribution_anomaly_check,
    null_rate_anomaly_check,
    volume_anomaly_check,
)
from lakehouse.quality.checks import key_checks
from lakehouse.raw.events import raw_events
from lakehouse.raw.exchange_rates import raw_exchange_rates
from lakehouse.raw.files import raw_file_assets
from lakehouse.raw.shop_tables import raw_shop_assets
from lakehouse.refined.assets import REFINED_TABLES, refined_assets, refined_checks
from lakehouse.refined.sessions import REFINED_SESSIONS, refined_sessions
from lakehouse.settings import Settings, get_settings
from lakehouse.simulator.exchange_api import SimulatedExchangeRateApi
from lakehouse.sources.exchange_rates import ExchangeRateApi
from lakehouse.sources.landing import LandingZone
from lakehouse.sources.shop_db import ShopDatabase
from lakehouse.storage.io_manager import DeltaIOManager
from lakehouse.storage.store import DeltaStore

# Anomalies against each table's own history (warnings, never blocking): raw volumes and null
# rates, refined null rates and the distribution of monitored numeric columns.
raw_assets = [*raw_shop_assets, *raw_file_assets, raw_exchange_rates, raw_events]
raw_keys = [key for asset in raw_assets for key in asset.keys if key.path[0] == "raw"]
anomaly_checks = [
    *(volume_anomaly_check(key) for key in raw_keys),
    *(null_rate_anomaly_check(key) for key in [*raw_keys, *(t.refined_key for t in REFINED_TABLES)]),
    *(distribution_anomaly_check(t.refined_key) for t in REFINED_TABLES if t.monitored_columns),
]


# Every table warns when its columns change between materialisations (from `dagster/column_schema`).
with warnings.catch_warnings():  # beta in Dagster 1.13; we pin the minor version
    warnings.simplefilter("ignore", dg.BetaWarning)
    schema_change_checks = dg.build_column_schema_change_checks(
        assets=[*raw_assets, *refined_assets, refined_sessions, *curated_assets]
    )


def _secret(variable: str, default: str) -> str | dg.EnvVar:
    """An EnvVar when the variable is set (the UI shows its name, never its value)."""
    return dg.EnvVar(variable) if os.environ.get(variable) else default


def exchange_rate_api(settings: Settings) -> ExchangeRateApi:
    """The API at `LAKEHOUSE_EXCHANGE_RATES_URL` when set; else the simulated provider of `<data>/sources`."""
    if settings.exchange_rates_url is None:
        return SimulatedExchangeRateApi(sources_dir=str(settings.sources_dir))
    return ExchangeRateApi(base_url=_secret("LAKEHOUSE_EXCHANGE_RATES_URL", settings.exchange_rates_url))


def build_definitions(settings: Settings) -> dg.Definitions:
    store = DeltaStore(root=str(settings.tables_dir))
    return dg.Definitions(
        assets=[*raw_assets, *refined_assets, refined_sessions, *curated_assets],
        asset_checks=[
            *anomaly_checks,
            *refined_checks,
            *key_checks(REFINED_SESSIONS, ["session_id"]),
            *curated_checks,
            *schema_change_checks,
        ],
        jobs=[build_lakehouse, maintain_lakehouse],
        schedules=[daily_build, weekly_maintenance, *source_schedules],
        sensors=[*file_set_sensors, clickstream_sensor, run_failure_alert_sensor],
        resources={
            "io_manager": DeltaIOManager(store=store, catalog_path=str(settings.catalog_path)),
            "store": store,
            "shop_db": ShopDatabase(uri=_secret("LAKEHOUSE_SHOP_DB_URI", settings.shop_db_uri)),
            "landing": LandingZone(root=str(settings.landing_dir)),
            "exchange_rate_api": exchange_rate_api(settings),
            "pseudonymiser": Pseudonymiser(key=_secret("LAKEHOUSE_PII_KEY", settings.pii_key)),
            "alerts": Alerts(
                alerts_path=str(settings.alerts_path),
                webhook_url=_secret("LAKEHOUSE_ALERT_WEBHOOK_URL", settings.alert_webhook_url or ""),
            ),
        },
        executor=dg.in_process_executor,
    )


defs = build_definitions(get_settings())
