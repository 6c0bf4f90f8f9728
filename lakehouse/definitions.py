"""The one Definitions object: every definition under `lakehouse/defs` (found by `dg`'s defs-folder
loader, so a new module there needs no list edited), plus the resources and executor, which take the
settings explicitly."""

import os
from collections.abc import Iterable
from datetime import date
from functools import cache

import dagster as dg

from lakehouse.components.declared import standalone_source_tables
from lakehouse.defs.orchestration.alerts import Alerts
from lakehouse.defs.orchestration.executors import run_executor
from lakehouse.defs.orchestration.jobs import build_lakehouse
from lakehouse.defs.orchestration.maintenance import full_checks
from lakehouse.defs.serving.catalog import CATALOG, catalog_asset, table_keys
from lakehouse.lib import instance_sqlite, partitions
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.partitions import DAILY_PARTITIONS
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.quality.metrics import QualityRecorder
from lakehouse.lib.spec import with_layer_defaults
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.serving.resource import ServingCatalog
from lakehouse.settings import PROJECT_ROOT, Settings, get_settings
from lakehouse.simulator.exchange_api import SimulatedExchangeRateApi
from lakehouse.simulator.state import STATE_FILE, read_params
from lakehouse.sources.exchange_rates import ExchangeRateApi
from lakehouse.sources.landing import LandingZone
from lakehouse.sources.shop_db import ShopDatabase

instance_sqlite.flush_less()  # every process that loads the definitions writes the instance's events


def _secret(variable: str, default: str) -> str | dg.EnvVar:
    """An EnvVar when the variable is set (the UI shows its name, never its value)."""
    return dg.EnvVar(variable) if os.environ.get(variable) else default


def exchange_rate_api(settings: Settings) -> ExchangeRateApi:
    """The API at `LAKEHOUSE_EXCHANGE_RATES_URL` when set; else the simulated provider of `<data>/sources`."""
    if settings.exchange_rates_url is None:
        return SimulatedExchangeRateApi(sources_dir=str(settings.sources_dir))
    return ExchangeRateApi(base_url=_secret("LAKEHOUSE_EXCHANGE_RATES_URL", settings.exchange_rates_url))


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything under `lakehouse/defs`, the catalog step over every table it holds, bound to the
    resources of `settings`."""
    loaded = dg.load_from_defs_folder(path_within_project=PROJECT_ROOT)
    if not settings.simulator:
        loaded = only_tables(loaded, {*standalone_source_tables(), CATALOG})
    catalog = dg.Definitions(assets=[catalog_asset(table_keys(loaded))])
    checks = full_checks(loaded.asset_checks or [])
    merged = dg.Definitions.merge(loaded, catalog, checks, resources(settings))
    return with_project_specs(merged, partitions.ending(partitions_end(settings)))


def only_tables(defs: dg.Definitions, tables: set[dg.AssetKey]) -> dg.Definitions:
    """`defs` with only the assets of `tables`, the checks of those, and the sensors whose targets
    are among them (LAKEHOUSE_SIMULATOR=off: the declared sources without the simulated shop)."""
    assets = [a for a in _unique(defs.assets) if set(a.keys) <= tables]
    checks = [c for c in defs.asset_checks or [] if {k.asset_key for k in c.check_keys} <= tables]
    sensors = [s for s in defs.sensors or [] if _targets_only(s.asset_selection, assets)]
    return _replaced(defs, assets=assets, asset_checks=checks, sensors=sensors)


def _targets_only(selection: dg.AssetSelection | None, assets: list[dg.AssetsDefinition]) -> bool:
    """Whether `selection` (None: the sensor targets no asset) names only some of `assets`."""
    if selection is None:
        return True
    try:
        selection.resolve(assets)
    except dg.DagsterInvalidSubsetError:
        return False
    return True


def partitions_end(settings: Settings) -> date | None:
    """Where the data ends, so that the day partitions end there too: the day after the simulated
    sources' last day (None with real sources, or none generated yet: up to today). The UI reads it
    when it loads the definitions: reload them after `lakehouse advance` to see the new days."""
    if not settings.simulator or not (settings.sources_dir / STATE_FILE).is_file():
        return None
    return read_params(settings.sources_dir).end


def with_project_specs(defs: dg.Definitions, days: dg.DailyPartitionsDefinition) -> dg.Definitions:
    """`defs` with every asset given its layer's owners and, for the tables users depend on, the
    daily freshness policy, unless it states its own (`with_layer_defaults`); the day-partitioned
    assets partitioned by `days`.

    The defs-folder loader keeps one of each asset a module also imports (a check's target), by
    identity; mapping would copy each import apart, so the assets are deduplicated first."""

    def project_spec(spec: dg.AssetSpec) -> dg.AssetSpec:
        spec = with_layer_defaults(spec, DAILY)
        return (
            spec.replace_attributes(partitions_def=days) if spec.partitions_def == DAILY_PARTITIONS else spec
        )

    mapped = dg.Definitions(assets=_unique(defs.assets)).map_asset_specs(func=project_spec)
    return _replaced(defs, assets=mapped.assets)


def _unique(assets: Iterable | None) -> list:
    """The assets, each once: the defs-folder loader holds an asset a module also imports (a
    check's target) twice, by identity."""
    return list({id(asset): asset for asset in assets or []}.values())


def _replaced(defs: dg.Definitions, **replaced: object) -> dg.Definitions:
    """`defs` with some of its parts (assets, checks, sensors) replaced."""
    parts = {
        "assets": defs.assets,
        "asset_checks": defs.asset_checks,
        "schedules": defs.schedules,
        "sensors": defs.sensors,
        "jobs": defs.jobs,
        "resources": defs.resources,
        "executor": defs.executor,
        "loggers": defs.loggers,
        "metadata": defs.metadata,
        "component_tree": defs.component_tree,
    }
    return dg.Definitions(**(parts | replaced))  # type: ignore[arg-type]


def resources(settings: Settings) -> dg.Definitions:
    """The resources (sources, storage, secrets) and the executor, from `settings`."""
    store = DeltaStore.from_settings(settings)
    return dg.Definitions(
        resources={
            "io_manager": DeltaIOManager(store=store, observer=QualityRecorder(store=store)),
            "store": store,
            "serving_catalog": ServingCatalog.from_settings(settings),
            "shop_db": ShopDatabase(
                uri=_secret("LAKEHOUSE_SHOP_DB_URI", settings.shop_db_uri),
                batch_rows=settings.extract_batch_rows,
            ),
            "landing": LandingZone(root=settings.landing_uri, batch_bytes=settings.read_batch_bytes),
            "exchange_rate_api": exchange_rate_api(settings),
            "pseudonymiser": Pseudonymiser(key=_secret("LAKEHOUSE_PII_KEY", settings.pii_key)),
            "alerts": Alerts(
                alerts_path=str(settings.alerts_path),
                webhook_url=_secret("LAKEHOUSE_ALERT_WEBHOOK_URL", settings.alert_webhook_url or ""),
            ),
        },
        executor=run_executor(settings),
    )


@cache
def default_definitions() -> dg.Definitions:
    """The definitions over the settings from the environment, built once per process."""
    return build_definitions(get_settings())


def build_job() -> dg.JobDefinition:
    """The build job as another process loads it: `dg.reconstructable(build_job)` launches a run whose
    steps run elsewhere (a Dask worker rebuilds the job from the same module and environment)."""
    return default_definitions().resolve_job_def(build_lakehouse.name)


@dg.definitions
def defs() -> dg.Definitions:
    """What `dg` and the webserver load, built when they ask (importing this module builds nothing)."""
    return default_definitions()
