"""`lakehouse plan`: what a change to the code does to the tables, before anything is written.

The code declares each table (its asset's definition): its columns and types (from the contract),
how it is written (mode, key, slice column), a code version (a hash of its transform and
contract) and any declared migrations. The table records what it holds: its schema, and in its
commits the write spec and the code version that wrote it. The plan compares the two, table by
table, and names for each affected table:

- the kind of change: new table, column added / removed / renamed / retyped, key changed,
  transform changed (the code version differs and the columns do not explain it);
- whether it is breaking for the tables downstream (everything but an added column is: their
  rows were computed from what changed);
- the migration that brings the stored table to the declared columns (see `migrations`);
- what must be rebuilt: the table itself when its rows must be recomputed (new column, new
  transform, new key) and, when the change is breaking, every table downstream; for a
  day-partitioned table, the days it holds.

A table is rebuilt whole when its inputs hold everything it was built from: an overwritten table
(from any input), and a merge table whose every input is an append table (a refined table: raw
keeps every batch). A refined table is reset together with the tables its step writes beside it
(its quarantine), so the rebuild re-refines every raw row once and quarantines each rejected one
once; the reconciliation check sees the reset (a non-adding commit) and judges everything again.
A refined table with records replayed from quarantine after a manual fix is not rebuilt whole:
the fix lives only in it, and raw would send those records back to quarantine; the plan says so.
Append and scd2 tables hold history no input holds any more: they take a change from their next
write on.

A retype with no declared cast is a problem the plan reports, and `apply` refuses: a type is never
changed silently. Nothing here writes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.lib.storage import audit, delta_tables
from lakehouse.lib.storage.location import join
from lakehouse.lib.storage.migrations import MIGRATIONS_KEY, Declared, Migration
from lakehouse.lib.storage.write_spec import WRITE_SPEC_KEY, WriteMode, WriteSpec, plain

# Write modes whose tables can always be emptied and rebuilt whole from their inputs; a merge table
# can when its inputs are append tables (see the module's docstring).
REBUILT_WHOLE = (WriteMode.OVERWRITE, WriteMode.OVERWRITE_PARTITION)
REPLAY_OPERATION = "replay"
# Operations after which an append table may no longer hold every batch it was given.
ROW_LOSING_OPERATIONS = {"DELETE", "RESTORE", "WRITE Overwrite", "MERGE"}

NEW_TABLE, ADDED, REMOVED, RENAMED, RETYPED = (
    "new table",
    "column added",
    "column removed",
    "column renamed",
    "column retyped",
)
KEY_CHANGED, TRANSFORM_CHANGED, UPSTREAM = "key changed", "transform changed", "upstream changed"
RESET_WITH = "reset with"
LAYERS = ["raw", "refined", "quarantine", "curated", "audit", "quality"]
NON_BREAKING = {ADDED, UPSTREAM, RESET_WITH}
REBUILDS_ITSELF = {NEW_TABLE, ADDED, KEY_CHANGED, TRANSFORM_CHANGED, RESET_WITH}


@dataclass(frozen=True)
class DeclaredTable:
    """A table as the code declares it (tests override fields with `dataclasses.replace`)."""

    key: str  # the asset key, `layer/table`
    columns: dict[str, str] | None  # name -> type text, in the contract's order (None: undeclared)
    write: WriteSpec
    code_version: str
    migrations: Declared = field(default_factory=Declared)
    partitioned: bool = False
    downstream: tuple[str, ...] = ()  # every asset downstream of it
    key_columns: tuple[str, ...] = ()  # the business key, naming rows in messages
    inputs: tuple[str, ...] = ()  # the assets it reads
    written_with: tuple[str, ...] = ()  # the other tables its step writes (a refined's quarantine)

    @property
    def row_key(self) -> tuple[str, ...]:
        """What identifies one row: the business key, or an scd2 dimension's surrogate key."""
        return (self.write.surrogate_key,) if self.write.surrogate_key else self.key_columns


@dataclass(frozen=True)
class StoredTable:
    """A table as its Delta log records it."""

    version: int
    columns: dict[str, str]
    write: WriteSpec
    code_version: str
    days: tuple[date, date] | None  # a day-partitioned table's first and last day


@dataclass(frozen=True)
class Change:
    kind: str
    detail: str

    @property
    def breaking(self) -> bool:
        return self.kind not in NON_BREAKING


@dataclass(frozen=True)
class TablePlan:
    table: str
    version: int | None  # the stored version the plan was made against (None: no table yet)
    changes: list[Change]
    migration: Migration | None = None
    rebuild: bool = False
    write_mode: WriteMode = WriteMode.OVERWRITE
    whole: bool = True  # a rebuild recomputes every row from its inputs (else: incrementally)
    why_not_whole: str = ""  # when it could be rebuilt whole but is not
    days: tuple[date, date] | None = None  # the partitions rebuilt, for a day-partitioned table
    problems: list[str] = field(default_factory=list)
    recorded_code_version: str = ""  # what wrote the stored table
    code_version: str = ""  # the code's

    @property
    def breaking(self) -> bool:
        return any(c.breaking for c in self.changes)

    @property
    def emptied_first(self) -> bool:
        """Rebuilt whole by emptying it first (an unpartitioned table its next build fills)."""
        return self.rebuild and self.version is not None and self.days is None and self.whole

    def rebuild_text(self) -> str:
        if not self.rebuild:
            return "no rebuild"
        if self.days is not None:
            first, last = self.days
            return f"rebuild partitions {first}..{last} ({(last - first).days + 1} days)"
        if self.version is None or self.emptied_first:
            return "rebuild the whole table"
        why = self.why_not_whole or f"{self.write_mode.value} table: its inputs do not hold all it holds"
        return f"rebuild incrementally: rows written from now on take the change ({why})"


@dataclass(frozen=True)
class Plan:
    tables: list[TablePlan]  # the affected tables only

    @property
    def rebuilt(self) -> list[TablePlan]:
        return [t for t in self.tables if t.rebuild]

    @property
    def migrated(self) -> list[TablePlan]:
        return [t for t in self.tables if t.migration is not None]

    @property
    def problems(self) -> list[str]:
        return [p for t in self.tables for p in t.problems]

    @property
    def days(self) -> tuple[date, date] | None:
        """The days of every day-partitioned table rebuilt (one backfill run covers them all)."""
        spans = [t.days for t in self.rebuilt if t.days is not None]
        return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None

    def text(self) -> str:
        if not self.tables:
            return "No changes: every table matches the code."
        lines = []
        for t in self.tables:
            breaking = "breaking for downstream" if t.breaking else "not breaking for downstream"
            lines.append(f"{t.table.replace('/', '.')} (version {t.version}): {breaking}")
            lines += [f"  {c.kind}: {c.detail}" for c in t.changes]
            if t.migration is not None:
                lines += [f"  migration: {step}" for step in t.migration.describe()]
            lines.append(f"  {t.rebuild_text()}")
            lines += [f"  ✗ {p}" for p in t.problems]
        migrated, rebuilt = len(self.migrated), len(self.rebuilt)
        lines.append(f"\n{len(self.tables)} tables affected: {migrated} migrated, {rebuilt} rebuilt.")
        if self.problems:
            lines.append("`lakehouse apply` refuses this plan until the problems above are fixed.")
        return "\n".join(lines)


def declared_tables(definitions: dg.Definitions) -> list[DeclaredTable]:
    """Every table the definitions write through the Delta IO manager, as declared, in graph order."""
    graph = definitions.resolve_asset_graph()
    declared = []
    for spec in definitions.resolve_all_asset_specs():
        write = spec.metadata.get(WRITE_SPEC_KEY)
        if write is None:
            continue
        schema = spec.metadata.get("dagster/column_schema")
        schema = getattr(schema, "schema", schema)
        downstream = dg.AssetSelection.assets(spec.key).downstream(include_self=False).resolve(graph)
        step_keys = definitions.resolve_assets_def(spec.key).keys
        declared.append(
            DeclaredTable(
                key=spec.key.to_user_string(),
                columns=None if schema is None else {c.name: c.type for c in schema.columns},
                write=WriteSpec.from_metadata(spec.metadata),
                code_version=spec.code_version or "",
                migrations=Declared.parse(plain(spec.metadata.get(MIGRATIONS_KEY)) or []),
                partitioned=spec.partitions_def is not None,
                downstream=tuple(sorted(k.to_user_string() for k in downstream)),
                key_columns=tuple(plain(spec.metadata.get("business_keys")) or ()),
                inputs=tuple(sorted(k.to_user_string() for k in graph.get(spec.key).parent_keys)),
                written_with=tuple(sorted(k.to_user_string() for k in step_keys if k != spec.key)),
            )
        )
    return declared


def stored_table(tables_root: str | Path, table: DeclaredTable) -> StoredTable | None:
    """What the table's log records (None: no table yet); `tables_root` a folder or `s3://` URI."""
    uri = join(tables_root, *table.key.split("/"))
    if not delta_tables.exists(uri):
        return None
    code_version = delta_tables.newest_code_version(uri)
    scan = delta_tables.scan(uri)
    columns = {name: str(dtype) for name, dtype in scan.collect_schema().items()}
    days = None
    if table.partitioned and table.write.partition_column:
        column = pl.col(table.write.partition_column)
        first, last = scan.select(column.min(), column.max().alias("last")).collect().row(0)
        days = None if first is None else (first, last)
    return StoredTable(delta_tables.version(uri), columns, delta_tables.spec_of(uri), code_version, days)


def column_changes(
    declared: DeclaredTable, stored: StoredTable
) -> tuple[list[Change], Migration | None, list[str]]:
    """The column changes, the migration bringing the stored table to the declared columns (None:
    none needed), and the problems (a retype with no declared cast)."""
    if declared.columns is None:
        return [], None, []
    wanted, held = declared.columns, stored.columns
    renames = {
        old: new for old, new in declared.migrations.renames.items() if old in held and new not in held
    }
    after = {renames.get(name, name): dtype for name, dtype in held.items()}
    added = tuple(c for c in wanted if c not in after)
    dropped = tuple(c for c in after if c not in wanted and not c.startswith("_"))
    retyped = [c for c in wanted if c in after and after[c] != wanted[c]]
    casts = tuple(c for c in retyped if c in declared.migrations.casts)
    changes = [
        *(Change(RENAMED, f"{old} -> {new}") for old, new in renames.items()),
        *(Change(RETYPED, f"{c}: {after[c]} -> {wanted[c]}") for c in retyped),
        *(Change(ADDED, f"{c} {wanted[c]}") for c in added),
        *(Change(REMOVED, c) for c in dropped),
    ]
    problems = [
        f"{declared.key}: {c} changes type ({after[c]} -> {wanted[c]}) with no declared cast "
        f'(add {{"cast": {{"{c}": "{wanted[c]}"}}}} to its migrations)'
        for c in retyped
        if c not in casts
    ]
    migration = Migration(dict(wanted), renames, casts, added, dropped)
    return changes, (migration if migration.changes_anything else None), problems


def own_changes(
    declared: DeclaredTable, stored: StoredTable | None
) -> tuple[list[Change], Migration | None, list[str]]:
    """The table's own changes against what it holds."""
    if stored is None:
        return [Change(NEW_TABLE, "not built yet")], None, []
    changes, migration, problems = column_changes(declared, stored)
    spec_before, spec_now = stored.write, declared.write
    if (spec_before.keys, spec_before.partition_column) != (spec_now.keys, spec_now.partition_column):
        before = spec_before.keys or (spec_before.partition_column,)
        now = spec_now.keys or (spec_now.partition_column,)
        changes.append(Change(KEY_CHANGED, f"{', '.join(map(str, before))} -> {', '.join(map(str, now))}"))
    if stored.code_version != declared.code_version and not changes:
        changes.append(
            Change(TRANSFORM_CHANGED, f"code version {stored.code_version or '?'} -> {declared.code_version}")
        )
    return changes, migration, problems


def make_plan(
    tables_root: str | Path, declared: Iterable[DeclaredTable], pending: Iterable[str] = ()
) -> Plan:
    """The plan of the code's `declared` tables against those under `tables_root`; `pending`: tables
    an interrupted apply still has to rebuild."""
    tables = list(declared)
    by_key = {t.key: t for t in tables}
    stored = {t.key: stored_table(tables_root, t) for t in tables}
    own = {t.key: own_changes(t, stored[t.key]) for t in tables}
    changes = {t.key: list(own[t.key][0]) for t in tables}
    for t in tables:
        name = t.key.replace("/", ".")
        if any(c.breaking for c in own[t.key][0]):
            for below in t.downstream:
                changes.setdefault(below, []).append(Change(UPSTREAM, f"{name} (breaking)"))
        if t.key in pending:
            changes[t.key].append(Change(UPSTREAM, "an interrupted apply had still to rebuild it"))
    replayed = audit.tables_with(tables_root, REPLAY_OPERATION)
    lost = functools.cache(lambda key: lost_rows(join(tables_root, *key.split("/"))))
    whole = {
        t.key: rebuilt_whole(t, by_key, replayed, lost) if _rebuilds(changes[t.key]) else (True, "")
        for t in tables
    }
    for t in tables:
        if _rebuilds(changes[t.key]) and whole[t.key][0] and stored[t.key] is not None:
            reset = Change(RESET_WITH, f"{t.key.replace('/', '.')} (rebuilt whole)")
            for sibling in t.written_with:
                changes.setdefault(sibling, []).append(reset)
    plans = []
    for t in tables:
        _, migration, problems = own[t.key]
        if not changes[t.key] and migration is None:
            continue
        rebuild, held = _rebuilds(changes[t.key]), stored[t.key]
        reset = any(c.kind == RESET_WITH for c in changes[t.key])
        plans.append(
            TablePlan(
                table=t.key,
                version=None if held is None else held.version,
                changes=changes[t.key],
                migration=migration,
                rebuild=rebuild,
                write_mode=t.write.mode,
                whole=reset or whole[t.key][0],
                why_not_whole=whole[t.key][1],
                days=held.days if rebuild and held is not None else None,
                problems=problems,
                recorded_code_version="" if held is None else held.code_version,
                code_version=t.code_version,
            )
        )
    return Plan(sorted(plans, key=_graph_order))


def _rebuilds(changes: list[Change]) -> bool:
    return any(c.kind in REBUILDS_ITSELF or c.kind == UPSTREAM for c in changes)


def rebuilt_whole(
    table: DeclaredTable,
    by_key: dict[str, DeclaredTable],
    replayed: set[str],
    lost: Callable[[str], str],
) -> tuple[bool, str]:
    """Whether a rebuild of `table` recomputes every row from its inputs, and if it could but does
    not, why (see the module's docstring). `lost(input)`: how an input lost rows ("" if it did not)."""
    if table.write.mode in REBUILT_WHOLE:
        return True, ""
    inputs = [by_key.get(i) for i in table.inputs]
    from_append_tables = bool(inputs) and all(i and i.write.mode is WriteMode.APPEND for i in inputs)
    if table.write.mode is not WriteMode.MERGE or not from_append_tables:
        return False, ""
    if table.key in replayed:
        return False, (
            "it holds records replayed from quarantine after a manual fix, which live only in it: "
            "a rebuild from raw would quarantine them again"
        )
    for name in table.inputs:
        if how := lost(name):
            return False, f"{name.replace('/', '.')} no longer holds every batch ({how}): rows would be lost"
    return True, ""


def lost_rows(uri: str) -> str:
    """How an append table lost rows since it was made (a delete, a restore, an overwrite: retention
    or an erasure), as its log's operations; "" when it holds every batch it was given."""
    operations = delta_tables.operations_since(uri, -1) if delta_tables.exists(uri) else set()
    return ", ".join(sorted(operations & ROW_LOSING_OPERATIONS))


def _graph_order(plan: TablePlan) -> tuple[int, str]:
    layer = plan.table.split("/")[0]
    return (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), plan.table)
