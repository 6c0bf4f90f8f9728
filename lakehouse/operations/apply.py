"""`lakehouse apply`: carry out a plan on the tables, and `--rollback` to undo it.

An apply runs in steps, each of which leaves every table whole:

1. every declared cast is checked on every row of its table; one that fails stops the apply
   before anything is written, naming the rows;
2. each table whose columns changed is migrated in one Delta commit (see `lib.storage.migrations`),
   audited as `migrate`;
3. each unpartitioned table rebuilt whole is emptied in one commit (audited as `empty`), so that
   its build recomputes every row;
4. one Dagster run rebuilds the tables the plan named: day-partitioned tables over the days they
   hold (a backfill of those partitions), the others as their build does, then the catalog.

Before step 1 the apply writes its record (`<data>/changes/<id>.json`): the version of every table
before it, and what it has to rebuild. A table is always before or after its own commit; an apply
killed between steps leaves its record unfinished, and the next apply finds it, plans again from
what the tables hold (migrated tables no longer differ) and rebuilds what the record still names.
A rollback restores every table the apply changed to its version before it (Delta restore:
a new, audited commit), which undoes migrations and rebuilds alike.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from lakehouse.defs.serving.catalog import CATALOG
from lakehouse.lib.partitions import range_tags
from lakehouse.lib.storage import audit, delta_tables, history, migrations
from lakehouse.lib.storage.location import join
from lakehouse.lib.storage.migrations import Migration
from lakehouse.operations.diff import TableDiff, diff
from lakehouse.operations.plan import DeclaredTable, Plan, TablePlan, make_plan
from lakehouse.operations.runner import run_build
from lakehouse.serving.catalog import publish_catalog
from lakehouse.serving.resource import ServingCatalog
from lakehouse.settings import Settings

Echo = Callable[[str], None]
CHANGES_DIR = "changes"
STARTED, MIGRATED, DONE, ROLLED_BACK = "started", "migrated", "done", "rolled back"


class ApplyError(RuntimeError):
    """The apply cannot go on; what was written so far stays, and a re-run finishes it."""


@dataclass
class ApplyRecord:
    """One apply: the tables' versions before it, what it rebuilds, and how far it got."""

    id: str
    started_at: str
    versions: dict[str, int | None]  # every table's version before the apply (None: no table)
    rebuild: list[str] = field(default_factory=list)
    days: list[str] | None = None  # first and last day of the partitions rebuilt
    state: str = STARTED

    @property
    def finished(self) -> bool:
        return self.state in (DONE, ROLLED_BACK)

    def save(self, data_dir: Path) -> None:
        path = records_dir(data_dir) / f"{self.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(self), indent=2))
        partial.replace(path)  # a record is whole or absent


def records_dir(data_dir: Path) -> Path:
    return data_dir / CHANGES_DIR


def records(data_dir: Path) -> list[ApplyRecord]:
    """Every apply record, oldest first."""
    found = [ApplyRecord(**json.loads(p.read_text())) for p in records_dir(data_dir).glob("*.json")]
    return sorted(found, key=lambda r: r.started_at)


def unfinished(data_dir: Path) -> ApplyRecord | None:
    """The newest apply, when it did not finish (killed, or its rebuild failed)."""
    newest = records(data_dir)[-1:] or [None]
    return newest[0] if newest[0] is not None and not newest[0].finished else None


def table_uri(settings: Settings, table: str) -> str:
    """Where `layer/table` lives: under the tables folder or the object store's prefix."""
    return join(settings.tables_uri, *table.split("/"))


def plan_now(settings: Settings, declared: Iterable[DeclaredTable]) -> Plan:
    """The plan against the tables as they are, with what an interrupted apply has still to rebuild."""
    pending = unfinished(settings.data_dir)
    return make_plan(settings.tables_uri, declared, pending.rebuild if pending else ())


def apply(
    settings: Settings,
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    declared: list[DeclaredTable],
    echo: Echo,
) -> ApplyRecord | None:
    """Carry out the plan (see the module's docstring); None when there is nothing to do."""
    plan = plan_now(settings, declared)
    if plan.problems:
        raise ApplyError("the plan has problems; nothing was written:\n" + "\n".join(plan.problems))
    if not plan.tables:
        return None
    record = unfinished(settings.data_dir) or _new_record(settings, declared)
    record.rebuild = [t.table for t in plan.rebuilt]
    record.days = [d.isoformat() for d in plan.days] if plan.days else None
    record.save(settings.data_dir)
    for table in plan.migrated:  # every cast holds, before anything is written
        migrations.check_casts(
            table_uri(settings, table.table), table.table, table.migration, _key(declared, table)
        )
    for table in plan.migrated:
        _migrate(settings, record, table)
    for table in plan.rebuilt:
        if table.emptied_first:
            _empty(settings, record, table)
    record.state = MIGRATED
    record.save(settings.data_dir)
    if plan.rebuilt:
        _rebuild(definitions, instance, plan, declared, echo)
        for table in plan.rebuilt:
            _record_code_version(settings, record, table)
    record.state = DONE
    record.save(settings.data_dir)
    return record


def _new_record(settings: Settings, declared: list[DeclaredTable]) -> ApplyRecord:
    now = datetime.now(UTC)
    versions = {t.key: delta_tables.version(table_uri(settings, t.key)) for t in declared}
    return ApplyRecord(f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", now.isoformat(), versions)


def _key(declared: list[DeclaredTable], table: TablePlan) -> tuple[str, ...]:
    """The columns naming a table's rows (in a failed cast's message)."""
    return next(t.key_columns for t in declared if t.key == table.table)


def _provenance(record: ApplyRecord, table: TablePlan, code_version: str) -> dict[str, object]:
    name = table.table
    return {
        "lakehouse.change": record.id,
        "dagster.code_version": code_version,
        delta_tables.INPUT_VERSIONS_COMMIT_KEY: {name: table.version} if table.version is not None else {},
    }


def _migrate(settings: Settings, record: ApplyRecord, table: TablePlan) -> None:
    """One commit: the stored table brought to the declared columns; the code version recorded is
    the code's unless the table is still to be emptied and rebuilt (then a killed apply shows its
    transform as changed still)."""
    assert table.migration is not None
    version_after = table.recorded_code_version if table.emptied_first else table.code_version
    uri = table_uri(settings, table.table)
    version = migrations.rewrite(uri, table.migration, _provenance(record, table, version_after))
    details = {"change": record.id, "steps": table.migration.describe(), "from_version": table.version}
    audit.record(
        settings.tables_uri, operation="migrate", table=table.table, version=version, details=details
    )


def _empty(settings: Settings, record: ApplyRecord, table: TablePlan) -> None:
    """One commit emptying the table (its columns kept), so that its build recomputes every row.

    An append table's batches are marked undone in the same commit: its rebuild appends them again
    (a quarantine re-filled by its refined table's rebuild from raw)."""
    uri = table_uri(settings, table.table)
    current = replace(table, version=delta_tables.version(uri))
    provenance = _provenance(record, current, table.recorded_code_version)
    version = migrations.rewrite(uri, Migration(columns={}), provenance, emptied=True)
    details = {"change": record.id, "why": "rebuilt whole", "from_version": current.version}
    audit.record(settings.tables_uri, operation="empty", table=table.table, version=version, details=details)


def _record_code_version(settings: Settings, record: ApplyRecord, table: TablePlan) -> None:
    """After the rebuild: a table it wrote nothing to (an incremental table with no new input)
    gets an empty commit recording the code version, so the plan no longer shows its transform as
    changed; the code now governs it, from its next write on."""
    uri = table_uri(settings, table.table)
    held = delta_tables.newest_code_version(uri) if delta_tables.exists(uri) else None
    if held is None or held == table.code_version:
        return
    provenance = _provenance(record, replace(table, version=delta_tables.version(uri)), table.code_version)
    version = migrations.record_code_version(uri, provenance)
    details = {"change": record.id, "code_version": table.code_version, "rows_written": 0}
    audit.record(
        settings.tables_uri, operation="code_version", table=table.table, version=version, details=details
    )


def _rebuild(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: Plan,
    declared: list[DeclaredTable],
    echo: Echo,
) -> None:
    """One run of the rebuilt tables (with the tables their steps write beside them) and the
    catalog; day-partitioned ones over the plan's days."""
    rebuilt = {t.table for t in plan.rebuilt}
    rebuilt |= {s for t in declared if t.key in rebuilt for s in t.written_with}
    selection = [dg.AssetKey.from_user_string(t) for t in sorted(rebuilt)] + [CATALOG]
    days: tuple[date, date] | None = plan.days
    tags = range_tags(*days) if days else None
    outcome = run_build(definitions, instance, echo, selection, tags)
    if not outcome.success:
        raise ApplyError(f"the rebuild run {outcome.run_id} failed; fix it and run `lakehouse apply` again")


def diffs(settings: Settings, declared: list[DeclaredTable], record: ApplyRecord) -> list[TableDiff]:
    """The data diff of every table the apply rebuilt against its version before the apply."""
    found = []
    for table in (t for t in declared if t.key in record.rebuild and t.row_key):
        before = record.versions.get(table.key)
        if before is not None:
            uri = table_uri(settings, table.key)
            found.append(diff(uri, table.key, table.row_key, before, renames=table.migrations.renames))
    return found


def rollback(settings: Settings, echo: Echo) -> ApplyRecord:
    """Restore every table the newest apply changed to its version before the apply (audited)."""
    done = [r for r in records(settings.data_dir) if r.state != ROLLED_BACK]
    if not done:
        raise ApplyError("no apply to roll back")
    record = done[-1]
    for table, version in sorted(record.versions.items()):
        uri = table_uri(settings, table)
        if version is None or delta_tables.version(uri) == version:
            continue
        restored = history.restore(settings.tables_uri, table, version)
        echo(
            f"  {table.replace('/', '.')}: version {restored.version}, with the content of version {version}"
        )
    publish_catalog(settings.tables_uri, ServingCatalog.from_settings(settings))
    record.state = ROLLED_BACK
    record.save(settings.data_dir)
    return record
