"""Table maintenance: compact small files, then enforce the retention policies.

Appends and merges leave many small files (a settlement file a day is a file a day); compaction
rewrites them into files of about `TARGET_FILE_SIZE`, so scans and catalog publishing stay fast.
A merged table made before new tables carried that size in their configuration gets it first (a
MERGE takes it from nowhere else).
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
from lakehouse.lib.storage.layout import TARGET_FILE_SIZE
from lakehouse.lib.storage.location import table_uris
from lakehouse.lib.storage.retention import RetentionPolicies
from lakehouse.lib.storage.write_spec import WriteMode

# Write modes whose writes are MERGEs: they take their file size from the table's configuration.
MERGED = (WriteMode.MERGE, WriteMode.SCD2)


@dataclass(frozen=True)
class Maintained:
    table: str
    files_compacted: int
    files_added: int
    retention: expiry.TableRetention


def compact(uri: str) -> dict:
    """Compact one table by a commit carrying its write spec; delta-rs's optimize metrics."""
    spec = delta_tables.spec_of(uri)
    custom = delta_tables.custom_metadata({"lakehouse.maintenance": "compact"}, spec)
    properties = CommitProperties(custom_metadata=custom)
    if spec.mode in MERGED:
        bound_merged_files(uri, properties)
    return DeltaTable(uri).optimize.compact(target_size=TARGET_FILE_SIZE, commit_properties=properties)


def bound_merged_files(uri: str, properties: CommitProperties) -> None:
    """Give a merged table made before tables carried their target file size that size: a MERGE
    takes it only from the table, and without it one file grows by every day merged into it."""
    table = DeltaTable(uri)
    if delta_tables.TARGET_FILE_SIZE_PROPERTY not in table.metadata().configuration:
        table.alter.set_table_properties(delta_tables.BOUNDED_FILES, commit_properties=properties)


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
        metrics = compact(uri)
        compacted[name] = (metrics["numFilesRemoved"], metrics["numFilesAdded"])
        if metrics["numFilesRemoved"]:
            audit.record(
                tables_root,
                operation="maintenance",
                table=name,
                version=DeltaTable(uri).version(),
                run_id=run_id,
                details=dict(zip(("files_compacted", "files_added"), compacted[name], strict=True)),
            )
    expired = expiry.apply(tables_root, policies, now=now, run_id=run_id)
    return [Maintained(r.table, *compacted.get(r.table, (0, 0)), r) for r in expired]
