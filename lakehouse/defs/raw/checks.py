"""Checks over every raw table: volume and null-rate anomalies against its own history, and
column changes between materialisations. Warnings, never blocking.

The raw tables of declared sources get theirs from their component (`lakehouse.components`)."""

from collections.abc import Sequence

import dagster as dg

from lakehouse.defs.raw.events import raw_events
from lakehouse.defs.raw.exchange_rates import raw_exchange_rates
from lakehouse.defs.raw.ingestion import REGISTRY
from lakehouse.lib.quality.anomaly import null_rate_anomaly_check, volume_anomaly_check
from lakehouse.lib.quality.checks import TableCheck, checks_step, schema_change_checks


def raw_table_checks(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """The checks of the raw tables `assets` write, one step per asset: anomalies on source data,
    not on a registry of what was ingested (a file set's versions), whose columns' changes are
    still watched."""
    return [checks_step(asset.node_def.name, _checks(asset)) for asset in assets]


def _checks(asset: dg.AssetsDefinition) -> list[TableCheck]:
    keys = [
        key for key in asset.keys if key.path[0] == "raw" and not asset.metadata_by_key[key].get(REGISTRY)
    ]
    return [
        *(volume_anomaly_check(key) for key in keys),
        *(null_rate_anomaly_check(key) for key in keys),
        *schema_change_checks(asset.keys),
    ]


raw_checks = raw_table_checks([raw_exchange_rates, raw_events])
