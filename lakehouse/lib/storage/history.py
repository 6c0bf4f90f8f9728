"""A table's change history and provenance, read from its Delta log.

Every commit the lakehouse makes carries the Dagster run, asset, partition and the Delta versions
of every table it read (see `io_manager` and `reads`), so "what produced version N, from what"
needs nothing but the tables themselves; lineage follows those input versions down to raw.

An incremental table reads its own previous version: lineage names it, as an input like the others,
without following it further (its own lineage is `lineage(table, that version)`), so that the tree
stays as deep as the layers, not as long as the table's history.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from lakehouse.lib.storage import audit, delta_tables
from lakehouse.lib.storage.location import join


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


def table_uri(tables_root: Path | str, table: str) -> str:
    """`refined.orders` or `refined/orders` -> the table's folder; a clear error if unknown."""
    uri = join(tables_root, *table.replace(".", "/").split("/"))
    if not DeltaTable.is_deltatable(uri):
        raise FileNotFoundError(f"no table {table} at {uri} (see `lakehouse tables`)")
    return uri


def _commit(table: str, entry: dict[str, Any]) -> Commit:
    return Commit(
        table=table,
        version=entry["version"],
        at=datetime.fromtimestamp(entry["timestamp"] / 1000, UTC),
        operation=entry.get("operation", ""),
        write_mode=entry.get("lakehouse.write_mode", ""),
        run_id=entry.get("dagster.run_id", ""),
        input_versions=delta_tables.input_versions(entry),
        metrics=entry.get("operationMetrics", {}),
    )


def history(tables_root: Path | str, table: str, limit: int | None = None) -> list[Commit]:
    """The table's commits, newest first."""
    name = table.replace(".", "/")
    return [_commit(name, entry) for entry in DeltaTable(table_uri(tables_root, table)).history(limit)]


def commit_at(tables_root: Path | str, table: str, version: int | None = None) -> Commit:
    """The commit that produced `version` (default: the current version)."""
    return _find(history(tables_root, table), table, version)


def _find(commits: list[Commit], table: str, version: int | None) -> Commit:
    """The commit of `version` (default: the newest) among a table's `commits` (newest first)."""
    wanted = commits[0].version if version is None else version
    for commit in commits:
        if commit.version == wanted:
            return commit
    raise ValueError(
        f"{table} has no version {wanted} (versions {commits[-1].version}..{commits[0].version})"
    )


def lineage(tables_root: Path | str, table: str, version: int | None = None) -> Lineage:
    """The commit behind a table version and, recursively, the input versions it was built from."""
    histories: dict[str, list[Commit]] = {}  # each table's log is read once

    def commit_of(name: str, at: int | None) -> Commit:
        if name not in histories:
            histories[name] = history(tables_root, name)
        return _find(histories[name], name, at)

    def build(name: str, at: int | None) -> Lineage:
        commit = commit_of(name, at)
        inputs = sorted(commit.input_versions.items())
        return Lineage(
            commit,
            [Lineage(commit_of(i, v)) if i == commit.table else build(i, v) for i, v in inputs],
        )

    return build(table.replace(".", "/"), version)


def restore(tables_root: Path | str, table: str, version: int) -> Commit:
    """Roll the table back to `version` (a new commit with that version's content), audited.

    The restore is written by the table's own write spec, the one its commits record: an append
    table's source batches appended after `version` are un-marked, so the next run ingests them
    again. Its commit records the version it restored as its input, so lineage goes on from there.
    """
    commit_at(tables_root, table, version)  # a clear error for a version that does not exist
    uri, name = table_uri(tables_root, table), table.replace(".", "/")
    provenance = {"lakehouse.restored_to": version, delta_tables.INPUT_VERSIONS_COMMIT_KEY: {name: version}}
    delta_tables.restore(uri, version, delta_tables.spec_of(uri), provenance)
    restored = commit_at(tables_root, table)
    audit.record(
        tables_root, operation="restore", table=name, version=restored.version, details={"to": version}
    )
    return restored
