"""The retention policies in force: every table's, gathered from where each is declared.

A refined or curated table's policy is its spec's `retention`; a quarantine's is its refined
table's `quarantine_policy`; the audit log's and the quality metrics' are declared beside them
(`audit.RETENTION`, `metrics.RETENTION`); any other table keeps the default (rows for ever,
history a week). Backups are kept `BACKUP_RETENTION_DAYS`. Gathered once when the definitions
load: a contradiction (see `RetentionPolicies`) stops the load with every conflict named.
"""

import lakehouse.defs.refined
from lakehouse.defs.curated.dictionary import curated_specs
from lakehouse.defs.refined.assets import REFINED_TABLES
from lakehouse.lib.quality import metrics
from lakehouse.lib.spec import specs_in
from lakehouse.lib.storage import audit
from lakehouse.lib.storage.retention import Retention, RetentionPolicies

# A month: a restore reaches back past a bad week; no expired row outlives its retention in them.
BACKUP_RETENTION_DAYS = 35


def _path(parts: tuple[str, ...] | list[str]) -> str:
    return "/".join(parts)


def declared_policies() -> dict[str, Retention]:
    """Each table's declared policy, by `layer/table`."""
    refined = [t.spec for t in REFINED_TABLES] + specs_in(lakehouse.defs.refined, "refined")
    tables = {_path(s.asset_key.path): s.retention for s in [*refined, *curated_specs()]}
    tables |= {_path(t.quarantine_key.path): t.quarantine_policy for t in REFINED_TABLES}
    library = {audit.AUDIT_TABLE: audit.RETENTION, metrics.METRICS_TABLE: metrics.RETENTION}
    return tables | {_path(table): policy for table, policy in library.items()}


def retention_policies(
    tables: dict[str, Retention] | None = None, backup_days: int = BACKUP_RETENTION_DAYS
) -> RetentionPolicies:
    """The policies in force (`tables` and `backup_days` replace the declared ones: a test's)."""
    reconciled = {_path(key.path) for t in REFINED_TABLES for key in (t.raw_key, t.refined_key)}
    lookups: dict[str, tuple[str, ...]] = {}
    for t in REFINED_TABLES:
        for key in t.lookups.values():
            lookups[_path(key.path)] = (*lookups.get(_path(key.path), ()), _path(t.quarantine_key.path))
    return RetentionPolicies(
        tables=declared_policies() if tables is None else tables,
        backup_days=backup_days,
        reconciled=frozenset(reconciled),
        lookups=lookups,
    )


RETENTION_POLICIES = retention_policies()  # checked as the definitions load
