"""Landing files past their retention: deleted once raw holds what they carried.

Every file a raw table ingests from the landing zone is its batch: `_batch_id` is
`landing/<folder>/<file>` (`landing/clickstream/<day>/batch-NNNN.jsonl` for a micro-batch). Once
raw holds a file's content, raw is the copy of record and the file a second copy, kept
`RetentionPolicies.landing_days` after it landed (its modification time) for a re-read or an audit.
The folders are found from raw's batch ids, so a newly declared file set is covered without
declaring anything more.

The interlocks: a file is never deleted while

- raw does not hold it yet (a batch not ingested yet: an unbuilt raw still needs it);
- its content is not the one the file set's registry (`raw/<name>_file_versions`) holds as its
  newest (a file re-sent with other content, not handled yet);
- it is quarantined whole (`quarantine/<name>_files`) and not released: `lakehouse quarantine
  release-file` reads it again.

A file's `.done` marker goes with it. Each folder's deletions are audited (`operation =
'retention'`, table `landing/<folder>`); a dry run counts the same files and deletes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from lakehouse.lib.file_versions import VERSION_MARK, sha256_of
from lakehouse.lib.storage import audit, delta_tables
from lakehouse.lib.storage.location import join, path, table_uris

LANDING = "landing"
MARKER_SUFFIX, UNFINISHED_SUFFIX = ".done", ".tmp"
AUDIT_OPERATION = "retention"
NOT_IN_RAW = "not in raw yet"
CHANGED = "content changed since it was ingested"
QUARANTINED = "quarantined whole, not released"


@dataclass(frozen=True)
class LandingExpiry:
    """What retention removes (or, in a dry run, would remove) from one landing folder."""

    folder: str  # `landing/<folder>`
    raw: str  # the raw table that ingests it
    cutoff: datetime
    files: int  # past the cutoff and held in raw: gone (or would go)
    held: dict[str, int] = field(default_factory=dict)  # past the cutoff but still needed, by reason

    def describe(self, dry_run: bool) -> str:
        verb = "would go" if dry_run else "gone"
        held = "; held: " + ", ".join(f"{n} {reason}" for reason, n in self.held.items()) if self.held else ""
        landed = f"landed before {self.cutoff:%Y-%m-%d %H:%M} UTC"
        return f"{self.folder} ({landed}): {self.files} files {verb}{held}"


def expire(
    landing_root: str | Path,
    tables_root: str | Path,
    days: int,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    run_id: str = "",
) -> list[LandingExpiry]:
    """Delete the landing files that landed more than `days` before `now` and that raw holds."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    results = []
    for raw, folders in _landing_readers(tables_root).items():
        for folder in sorted(folders):
            result = _expire_folder(landing_root, tables_root, raw, folder, cutoff, dry_run)
            if result.files and not dry_run:
                audit.record(
                    tables_root,
                    operation=AUDIT_OPERATION,
                    table=result.folder,
                    version=None,
                    run_id=run_id,
                    details={
                        "policy": f"landing files: {days} days once raw holds them",
                        "cutoff": cutoff.isoformat(),
                        "files_deleted": result.files,
                        "held": result.held,
                    },
                )
            results.append(result)
    return results


def _landing_readers(tables_root: str | Path) -> dict[str, set[str]]:
    """Each raw table whose batches are landing files -> the landing folders they are in."""
    readers = {}
    for name, uri in table_uris(tables_root).items():
        if not name.startswith("raw/") or name.endswith("_file_versions"):
            continue
        table = delta_tables.scan(uri)
        if "_batch_id" not in table.collect_schema():
            continue
        batch = pl.col("_batch_id")
        folders = (
            table.select(
                batch.filter(batch.str.starts_with(f"{LANDING}/")).str.split("/").list.get(1).unique()
            )
            .collect()
            .get_column("_batch_id")
            .to_list()
        )
        if folders:
            readers[name] = set(folders)
    return readers


def _expire_folder(
    landing_root: str | Path, tables_root: str | Path, raw: str, folder: str, cutoff: datetime, dry_run: bool
) -> LandingExpiry:
    root = path(landing_root)
    old = {
        f"{LANDING}/{file.relative_to(root).as_posix()}": file
        for file in path(landing_root, folder).rglob("*")
        if file.is_file()
        and not file.name.endswith((MARKER_SUFFIX, UNFINISHED_SUFFIX))
        and datetime.fromtimestamp(file.stat().st_mtime, UTC) < cutoff
    }
    needed = _still_needed(tables_root, raw, old)
    expired = [file for batch, file in old.items() if batch not in needed]
    if not dry_run:
        for file in expired:
            file.unlink()
            marker = file.with_name(file.name + MARKER_SUFFIX)
            if marker.exists():
                marker.unlink()
    return LandingExpiry(f"{LANDING}/{folder}", raw, cutoff, len(expired), dict(Counter(needed.values())))


def _still_needed(tables_root: str | Path, raw: str, files: dict[str, Path]) -> dict[str, str]:
    """The batches among `files` that must stay, with the reason (see the module's interlocks)."""
    registry_uri = join(tables_root, *f"{raw}_file_versions".split("/"))
    rejected_uri = join(tables_root, "quarantine", f"{raw.split('/', 1)[1]}_files")
    needed = {}
    if delta_tables.exists(registry_uri):  # a file set: its registry knows each file's content
        newest = _newest_contents(registry_uri)
        for batch, file in files.items():
            digest = newest.get(file.name)
            if digest is None:
                needed[batch] = NOT_IN_RAW
            elif digest != sha256_of(file):
                needed[batch] = CHANGED
    else:
        held = delta_tables.committed_batches(join(tables_root, *raw.split("/")), list(files))
        needed = {batch: NOT_IN_RAW for batch in files if batch not in held}
    quarantined = _quarantined_files(rejected_uri)
    return needed | {batch: QUARANTINED for batch in files if batch in quarantined}


def _newest_contents(registry_uri: str) -> dict[str, str]:
    """Per file name, the SHA-256 of the newest version the registry holds."""
    registry = delta_tables.scan(registry_uri).sort("_ingested_at").unique("file", keep="last")
    return dict(registry.select("file", "sha256").collect().iter_rows())


def _quarantined_files(rejected_uri: str) -> set[str]:
    """The batch ids of the files quarantined whole (any of their versions), not released."""
    if not delta_tables.exists(rejected_uri):
        return set()
    batches = delta_tables.scan(rejected_uri).select(pl.col("_batch_id").str.split(VERSION_MARK).list.first())
    return set(batches.unique().collect().get_column("_batch_id").to_list())
