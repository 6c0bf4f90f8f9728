"""Table maintenance: compact small files and vacuum files no longer referenced.

Appends and merges leave many small files (a settlement file a day is a file a day); compaction
rewrites them into files of about `TARGET_FILE_SIZE`, so scans and catalog publishing stay fast.
Vacuum then deletes files unreferenced for longer than the retention, which is kept at a week:
readers holding an older catalog, and time travel to recent versions, keep working.
"""

from dataclasses import dataclass
from pathlib import Path

from deltalake import DeltaTable

from lakehouse.lib.storage import audit
from lakehouse.lib.storage.delta_tables import TARGET_FILE_SIZE
from lakehouse.lib.storage.location import table_uris

RETENTION_HOURS = 7 * 24


@dataclass(frozen=True)
class Maintained:
    table: str
    files_compacted: int
    files_added: int
    files_vacuumed: int


def maintain(tables_root: Path | str, retention_hours: int = RETENTION_HOURS) -> list[Maintained]:
    """Compact and vacuum every table under `tables_root`; each operation is audited."""
    results = []
    for name, uri in table_uris(tables_root).items():
        table = DeltaTable(uri)
        compacted = table.optimize.compact(target_size=TARGET_FILE_SIZE)
        vacuumed = table.vacuum(
            retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
        )
        result = Maintained(name, compacted["numFilesRemoved"], compacted["numFilesAdded"], len(vacuumed))
        if result.files_compacted or result.files_vacuumed:
            audit.record(
                tables_root,
                operation="maintenance",
                table=name,
                version=DeltaTable(uri).version(),
                details={"retention_hours": retention_hours, **result.__dict__},
            )
        results.append(result)
    return results
