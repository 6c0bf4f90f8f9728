"""Checks over every refined table: its key, the reconciliation of raw = refined + quarantined +
duplicates, null-rate and distribution anomalies, and column changes between materialisations."""

from lakehouse.defs.refined.assets import REFINED_TABLES, refined_assets
from lakehouse.defs.refined.sessions import SESSIONS, refined_sessions
from lakehouse.lib.quality.anomaly import distribution_anomaly_check, null_rate_anomaly_check
from lakehouse.lib.quality.checks import reconciliation_check, schema_change_checks

refined_checks = [
    *(
        check
        for t in REFINED_TABLES
        for check in (
            *t.spec.checks(),
            reconciliation_check(t.raw_key, t.refined_key, t.quarantine_key, t.keys),
        )
    ),
    *SESSIONS.checks(),
    *(null_rate_anomaly_check(t.refined_key) for t in REFINED_TABLES),
    *(distribution_anomaly_check(t.refined_key) for t in REFINED_TABLES if t.monitored_columns),
    *schema_change_checks([*refined_assets, refined_sessions]),
]
