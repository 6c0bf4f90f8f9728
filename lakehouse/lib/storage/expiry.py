"""Enforcing the retention policies (`retention`): expire rows, vacuum history, audit both.

Rows older than a table's policy by its date column are deleted (a quarantined record together with
its raw record, so the reconciliation still holds), files unreferenced for longer than the history
are vacuumed, and each table's log retention is set to its history. Every deletion is audited
(`operation = 'retention'`); a dry run counts the same rows and files and changes nothing. Rows an
open quarantine fix (fixed, not yet replayed) still needs are held, with the reason. Each delete
commit carries the table's write spec, so the catalog keeps masking the table's direct PII.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable

from lakehouse.lib.columns import IDENTITY
from lakehouse.lib.storage import audit, delta_tables
from lakehouse.lib.storage.location import join, table_uris
from lakehouse.lib.storage.retention import Retention, RetentionPolicies

LOG_RETENTION = "delta.logRetentionDuration"
DELETED_FILE_RETENTION = "delta.deletedFileRetentionDuration"
AUDIT_OPERATION = "retention"


@dataclass(frozen=True)
class TableRetention:
    """What retention removes (or, in a dry run, would remove) from one table."""

    table: str
    policy: str
    cutoff: datetime | None
    rows: int  # the table's own rows past the cutoff
    records: dict[str, int]  # rows of the same identity in `expires_with` tables
    files: int  # data files vacuumed: unreferenced for longer than the history
    by_rule: dict[str, int] = field(default_factory=dict)  # a quarantine's expired rows by rule
    held: str = ""  # why expired rows are kept for now (an interlock)

    @property
    def changes(self) -> bool:
        return bool(self.rows or self.files or any(self.records.values()))

    def describe(self, dry_run: bool) -> str:
        """One line: the rows and files that go (or would), the records with them, the rules."""
        verb = "held" if self.held else "would go" if dry_run else "gone"
        parts = [f"{self.rows} rows {verb}"] if self.rows else []
        parts += [f"{n} records of {table}" for table, n in self.records.items() if n]
        if self.by_rule:
            parts.append("by rule " + ", ".join(f"{rule} {n}" for rule, n in self.by_rule.items()))
        if self.files:
            parts.append(f"{self.files} files {'would be ' if dry_run else ''}vacuumed")
        cutoff = f" (before {self.cutoff:%Y-%m-%d %H:%M} UTC)" if self.rows and self.cutoff else ""
        held = f": {self.held}" if self.held and self.rows else ""
        return f"{self.table}{cutoff}: {'; '.join(parts) or 'nothing to remove'}{held}"


def open_quarantine_fixes(tables_root: Path | str) -> dict[str, str]:
    """Quarantine tables with a fix not replayed since: `quarantine/x` -> why its rows are held.

    A `quarantine fix` edits records to be replayed; dropping them before the replay would lose the
    fix. Read from the audit log: a fix newer than the refined table's last replay is open.
    """
    uri = join(tables_root, *audit.AUDIT_TABLE)
    if not delta_tables.exists(uri):
        return {}
    log = delta_tables.scan(uri).filter(pl.col("operation").is_in(["fix", "replay"]))
    last = log.group_by("operation", "table_name").agg(pl.col("at").max()).collect()
    times = {(r["operation"], r["table_name"]): r["at"] for r in last.iter_rows(named=True)}
    held = {}
    for (operation, table), at in times.items():
        replayed = times.get(("replay", table.replace("quarantine/", "refined/", 1)))
        if operation == "fix" and (replayed is None or replayed < at):
            held[table] = (
                f"a fix made {at:%Y-%m-%d %H:%M} UTC is not replayed yet (`lakehouse quarantine replay`)"
            )
    return held


def apply(
    tables_root: Path | str,
    policies: RetentionPolicies,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    run_id: str = "",
) -> list[TableRetention]:
    """Enforce every table's policy as of `now` (default: the clock); a dry run changes nothing.

    `now` later than the clock previews what will go then (the vacuum's window moves with it).
    """
    now = now or datetime.now(UTC)
    held = open_quarantine_fixes(tables_root)
    results = []
    for name, uri in table_uris(tables_root).items():
        policy = policies.of(name)
        # History first: the files this run's deletes unreference are kept for the whole history.
        files = _vacuum(uri, policy, now, dry_run)
        if files and not dry_run:
            _audit(tables_root, name, uri, run_id, {"policy": policy.describe(), "files_vacuumed": files})
        expired = _expire_rows(tables_root, name, uri, policy, now, held.get(name, ""), dry_run, run_id)
        results.append(TableRetention(**{**expired.__dict__, "files": files}))
    return results


def _expire_rows(
    root: Path | str,
    name: str,
    uri: str,
    policy: Retention,
    now: datetime,
    held: str,
    dry_run: bool,
    run_id: str,
) -> TableRetention:
    cutoff = policy.cutoff(now)
    unchanged = TableRetention(name, policy.describe(), cutoff, 0, {}, 0)
    table = delta_tables.scan(uri)
    if cutoff is None or policy.date_column not in table.collect_schema():
        return unchanged
    expired = table.filter(pl.col(policy.date_column) < cutoff)
    rows = expired.select(pl.len()).collect().item()
    if not rows:
        return unchanged
    # The identities of the expired rows, for the tables whose records go with them.
    identities = expired.select(*IDENTITY).collect() if policy.expires_with else pl.DataFrame()
    records = {other: _matching(join(root, *other.split("/")), identities) for other in policy.expires_with}
    result = TableRetention(name, policy.describe(), cutoff, rows, records, 0, _by_rule(expired), held)
    if held or dry_run:
        return result
    provenance = {"lakehouse.retention": {"cutoff": cutoff.isoformat(), "date_column": policy.date_column}}
    for other in policy.expires_with:  # first: a crash midway leaves the expired rows to find again
        _delete_identities(join(root, *other.split("/")), identities, provenance)
    _delete_before(uri, policy.date_column, cutoff, provenance)
    _audit(
        root,
        name,
        uri,
        run_id,
        {
            "policy": policy.describe(),
            "cutoff": cutoff.isoformat(),
            "rows_deleted": result.rows,
            "records_deleted": records,
            "by_rule": result.by_rule,
        },
    )
    return result


def _audit(root: Path | str, name: str, uri: str, run_id: str, details: dict[str, Any]) -> None:
    """One retention entry in the audit log, at the table's version after it."""
    audit.record(
        root,
        operation=AUDIT_OPERATION,
        table=name,
        version=delta_tables.version(uri),
        run_id=run_id,
        details=details,
    )


def _by_rule(expired: pl.LazyFrame) -> dict[str, int]:
    """Expired quarantined records by the rule they broke (reported before they go)."""
    if "_rules" not in expired.collect_schema():
        return {}
    counts = expired.select(pl.col("_rules").explode().alias("rule")).group_by("rule").len().collect()
    return dict(sorted(zip(counts["rule"].to_list(), counts["len"].to_list(), strict=True)))


def _matching(uri: str, identities: pl.DataFrame) -> int:
    if not delta_tables.exists(uri):
        return 0
    rows = delta_tables.scan(uri).join(identities.lazy(), on=identities.columns, how="semi")
    return rows.select(pl.len()).collect().item()


def _commit(uri: str, provenance: Mapping[str, object]) -> CommitProperties:
    """Commit properties carrying the table's write spec, so the catalog keeps masking its PII."""
    custom = delta_tables.custom_metadata(provenance, delta_tables.spec_of(uri))
    return CommitProperties(custom_metadata=custom)


def _delete_identities(uri: str, identities: pl.DataFrame, provenance: Mapping[str, object]) -> None:
    if not delta_tables.exists(uri):
        return
    on = " AND ".join(f"t.{c} = s.{c}" for c in identities.columns)
    DeltaTable(uri).merge(
        delta_tables.as_stream(identities),
        predicate=on,
        source_alias="s",
        target_alias="t",
        commit_properties=_commit(uri, provenance),
    ).when_matched_delete().execute()


def _delete_before(uri: str, column: str, cutoff: datetime, provenance: Mapping[str, object]) -> None:
    predicate = f"{column} < '{cutoff.astimezone(UTC).isoformat()}'"
    DeltaTable(uri).delete(predicate, commit_properties=_commit(uri, provenance))


def _vacuum(uri: str, policy: Retention, now: datetime, dry_run: bool) -> int:
    """Vacuum files unreferenced for longer than the history, and keep the log as long; how many
    files went (or would)."""
    ahead = max(timedelta(0), now - datetime.now(UTC))  # a preview of a later day
    hours = max(0, int((timedelta(days=policy.history_days) - ahead).total_seconds() // 3600))
    table = DeltaTable(uri)
    if not dry_run:
        interval = f"interval {policy.history_days} days"
        wanted = {LOG_RETENTION: interval, DELETED_FILE_RETENTION: interval}
        configuration = table.metadata().configuration
        if any(configuration.get(k) != v for k, v in wanted.items()):
            table.alter.set_table_properties(wanted)
    return len(table.vacuum(retention_hours=hours, dry_run=dry_run, enforce_retention_duration=False))


def summary(results: list[TableRetention]) -> dict[str, int]:
    """Totals for a run's metadata and the CLI's last line."""
    return {
        "tables": len(results),
        "rows": sum(r.rows for r in results),
        "records": sum(sum(r.records.values()) for r in results),
        "files": sum(r.files for r in results),
        "held": sum(1 for r in results if r.held),
    }
