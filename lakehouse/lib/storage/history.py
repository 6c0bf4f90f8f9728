"""A table's change history and provenance, read from its Delta log.

Every commit the lakehouse makes carries the Dagster run, asset, partition and the Delta versions
of the inputs it read (see `io_manager`), so "what produced version N, from what" needs nothing
but the tables themselves; lineage follows those input versions down to raw.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from lakehouse.lib.storage import audit, delta_tables


@dataclass(frozen=True)
class Commit:
    table: str
    version: int
    at: datetime
    operation: str
    write_mode: str
    run_id: str
    input_versions: dict[str, int]
    metrics: dict[str, Any]


@dataclass(frozen=True)
class Lineage:
    commit: Commit
    inputs: list["Lineage"] = field(default_factory=list)


def table_uri(tables_dir: Path, table: str) -> str:
    """`refined.orders` or `refined/orders` -> the table's folder; a clear error if unknown."""
    path = Path(tables_dir, *table.replace(".", "/").split("/"))
    if not DeltaTable.is_deltatable(str(path)):
        raise FileNotFoundError(f"no table {table} at {path} (see `lakehouse tables`)")
    return str(path)


def _commit(table: str, entry: dict[str, Any]) -> Commit:
    return Commit(
        table=table,
        version=entry["version"],
        at=datetime.fromtimestamp(entry["timestamp"] / 1000, UTC),
        operation=entry.get("operation", ""),
        write_mode=entry.get("lakehouse.write_mode", ""),
        run_id=entry.get("dagster.run_id", ""),
        input_versions=json.loads(entry.get("dagster.input_versions") or "{}"),
        metrics=entry.get("operationMetrics", {}),
    )


def history(tables_dir: Path, table: str, limit: int | None = None) -> list[Commit]:
    """The table's commits, newest first."""
    name = table.replace(".", "/")
    return [_commit(name, entry) for entry in DeltaTable(table_uri(tables_dir, table)).history(limit)]


def commit_at(tables_dir: Path, table: str, version: int | None = None) -> Commit:
    """The commit that produced `version` (default: the current version)."""
    commits = history(tables_dir, table)
    wanted = commits[0].version if version is None else version
    for commit in commits:
        if commit.version == wanted:
            return commit
    raise ValueError(
        f"{table} has no version {wanted} (versions {commits[-1].version}..{commits[0].version})"
    )


def lineage(tables_dir: Path, table: str, version: int | None = None) -> Lineage:
    """The commit behind a table version and, recursively, the input versions it was built from."""
    commit = commit_at(tables_dir, table, version)
    inputs = [lineage(tables_dir, name, at) for name, at in sorted(commit.input_versions.items())]
    return Lineage(commit, inputs)


def restore(tables_dir: Path, table: str, version: int) -> Commit:
    """Roll the table back to `version` (a new commit with that version's content), audited.

    Source batches appended after `version` are un-marked, so the next run ingests them again.
    """
    commit_at(tables_dir, table, version)  # a clear error for a version that does not exist
    delta_tables.restore(table_uri(tables_dir, table), version)
    restored = commit_at(tables_dir, table)
    name = table.replace(".", "/")
    audit.record(
        tables_dir, operation="restore", table=name, version=restored.version, details={"to": version}
    )
    return restored
