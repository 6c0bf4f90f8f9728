"""Table maintenance: compact small files, then enforce the retention policies.

Appends and merges leave many small files (a settlement file a day is a file a day); compaction
rewrites them into files of about the table's own size (`layout.file_size_of`), so scans and
catalog publishing stay fast.
Each compaction commit carries the table's write spec, like every other commit: the catalog masks
a table's direct PII by the newest spec-carrying commit, and log cleanup must never leave a table
with none. Retention (`expiry.apply`) then expires old rows and vacuums files unreferenced for
longer than each table's history.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from deltalake import CommitProperties, DeltaTable

from lakehouse.lib.storage import audit, delta_tables, expiry
from lakehouse.lib.storage.layout import file_size_of
from lakehouse.lib.storage.location import table_uris
from lakehouse.lib.storage.retention import RetentionPolicies


@dataclass(frozen=True)
class Maintained:
    table: str
    files_compacted: int
    files_added: int
    retention: expiry.TableRetention


@dataclass(frozen=True)
class Compacted:
    files_removed: int
    files_added: int
    version: int  # the table's, after the compaction


def compact(uri: str) -> Compacted:
    """Compact one table by a commit carrying its write spec, from one read of its log."""
    table = DeltaTable(uri)
    custom = delta_tables.custom_metadata({"lakehouse.maintenance": "compact"}, delta_tables.spec_of(table))
    properties = CommitProperties(custom_metadata=custom)
    metrics = table.optimize.compact(target_size=file_size_of(table), commit_properties=properties)
    return Compacted(metrics["numFilesRemoved"], metrics["numFilesAdded"], table.version())


def maintain(
    tables_root: Path | str,
    policies: RetentionPolicies,
    *,
    now: datetime | None = None,
    run_id: str = "",
) -> list[Maintained]:
    """Compact every table under `tables_root`, then enforce `policies`; each change is audited."""
    compacted = {}
    for name, uri in table_uris(tables_root).items():
        result = compact(uri)
        compacted[name] = (result.files_removed, result.files_added)
        if result.files_removed:
            audit.record(
                tables_root,
                operation="maintenance",
                table=name,
                version=result.version,
                run_id=run_id,
                details=dict(zip(("files_compacted", "files_added"), compacted[name], strict=True)),
            )
    expired = expiry.apply(tables_root, policies, now=now, run_id=run_id)
    return [Maintained(r.table, *compacted.get(r.table, (0, 0)), r) for r in expired]
