"""Checks over every refined table: its key, the reconciliation of raw = refined + quarantined +
duplicates, null-rate and distribution anomalies, and column changes between materialisations.

The refined tables declared with an inline contract get theirs from their component
(`lakehouse.components`)."""

import dagster as dg

from lakehouse.defs.refined.assets import REFINED_TABLES, refined_assets
from lakehouse.defs.refined.refine import RefinedTable
from lakehouse.defs.refined.sessions import SESSIONS, refined_sessions
from lakehouse.lib.quality.anomaly import distribution_anomaly_check, null_rate_anomaly_check
from lakehouse.lib.quality.checks import reconciliation_check


def refined_table_checks(t: RefinedTable, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """The checks of one refined table, built by `asset`, in one step: its spec's (key, column
    changes), the reconciliation with raw, and null-rate and distribution anomalies."""
    return t.spec.check_step(
        asset,
        reconciliation_check(t.raw_key, t.refined_key, t.quarantine_key, t.keys),
        null_rate_anomaly_check(t.refined_key),
        *([distribution_anomaly_check(t.refined_key)] if t.monitored_columns else []),
    )


refined_checks = [
    *(refined_table_checks(t, asset) for t, asset in zip(REFINED_TABLES, refined_assets, strict=True)),
    SESSIONS.check_step(refined_sessions),
]
