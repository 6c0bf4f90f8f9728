"""Backups of the whole lakehouse: every table at one point in time, the catalog and the run history.

A backup folder holds a pool of files and one manifest per backup:

    DEST/files/<layer>/<table>/...           data files and Delta log entries, shared by every backup
    DEST/backups/<id>/backup.json            each table's version and the files it needs
    DEST/backups/<id>/lakehouse.duckdb       the serving catalog
    DEST/backups/<id>/run_history/...        the Dagster instance's SQLite files

One point in time: every table's version is read while holding the data folder's run lock (which
`lakehouse run` takes), so no build commits in between. A table at a version is its log up to that
version and the data files that version references; Delta never rewrites a file under the same
name, so a file already in the pool is not copied again: every backup after the first copies only
what is new (incremental by file name). The manifest is written last, so a backup interrupted
midway has none and is refused, as is one from another format or version of the lakehouse.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path

from deltalake import DeltaTable

from lakehouse.lib.storage import delta_tables

FORMAT = 1
MANIFEST = "backup.json"
CATALOG_FILE = "lakehouse.duckdb"
RUN_HISTORY = "run_history"
LOG_ENTRY = re.compile(r"^(\d{20})\.(json|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")


class BackupError(RuntimeError):
    """A backup that cannot be made or restored, with the reason."""


@dataclass(frozen=True)
class Backup:
    id: str
    created_at: str
    format: int
    lakehouse_version: str
    tables: dict[str, dict]  # `layer/table` -> {"version": n, "files": [paths in the table's folder]}
    copied_files: int  # new files this backup added to the pool
    copied_bytes: int

    @property
    def files(self) -> int:
        return sum(len(t["files"]) for t in self.tables.values())


def lakehouse_version() -> str:
    return package_version("lakehouse")


def live_tables(tables_dir: Path) -> list[str]:
    """The tables in a tables folder, `layer/table`, by name."""
    return sorted(str(p.parent.relative_to(tables_dir)) for p in tables_dir.glob("*/*/_delta_log"))


@contextmanager
def no_build_running(data_dir: Path) -> Iterator[None]:
    """Hold the data folder's run lock: `lakehouse run` cannot commit meanwhile (waits for one that is)."""
    lock_path = data_dir / ".run.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def table_files(uri: str, at_version: int) -> list[str]:
    """The files of a table at a version: its log entries up to it, and the data files it references."""
    log = sorted(
        f"_delta_log/{p.name}"
        for p in Path(uri, "_delta_log").iterdir()
        if (m := LOG_ENTRY.match(p.name)) and int(m.group(1)) <= at_version
    )
    data = (str(Path(f).relative_to(uri)) for f in DeltaTable(uri, version=at_version).file_uris())
    return [*log, *sorted(data)]


def create(data_dir: Path, dest: Path, run_history: Path | None) -> Backup:
    """Back up the lakehouse in `data_dir` (and the run history's SQLite files) to `dest`."""
    tables_dir = data_dir / "tables"
    with no_build_running(data_dir):
        versions = {name: delta_tables.version(str(tables_dir / name)) for name in live_tables(tables_dir)}
    if not versions:
        raise BackupError(f"no tables in {tables_dir} to back up")
    now = datetime.now(UTC)
    backup_id = f"{now:%Y%m%dT%H%M%S%f}"
    folder = dest / "backups" / backup_id
    folder.mkdir(parents=True)
    tables, copied, copied_bytes = {}, 0, 0
    for name, at in versions.items():
        files = table_files(str(tables_dir / name), at)
        for relative in files:
            source, target = tables_dir / name / relative, dest / "files" / name / relative
            if target.is_file() and target.stat().st_size == source.stat().st_size:
                continue  # immutable by name: already in the pool
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            copied, copied_bytes = copied + 1, copied_bytes + source.stat().st_size
        tables[name] = {"version": at, "files": files}
    catalog = data_dir / CATALOG_FILE
    if catalog.is_file():
        shutil.copy2(catalog, folder / CATALOG_FILE)
    if run_history is not None and run_history.is_dir():
        _copy_sqlite(run_history, folder / RUN_HISTORY)
    backup = Backup(backup_id, now.isoformat(), FORMAT, lakehouse_version(), tables, copied, copied_bytes)
    partial = folder / f"{MANIFEST}.partial"
    partial.write_text(json.dumps(asdict(backup), indent=1))
    partial.replace(folder / MANIFEST)  # last: a backup without its manifest is incomplete
    return backup


def _copy_sqlite(source: Path, target: Path) -> None:
    """Every SQLite file under `source`, each a consistent copy (SQLite's online backup)."""
    for db in sorted(source.rglob("*.db")):
        copy = target / db.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        live, out = sqlite3.connect(db), sqlite3.connect(copy)
        try:
            live.backup(out)
        finally:
            out.close()
            live.close()


def backups(dest: Path) -> list[Backup]:
    """The complete backups in `dest`, oldest first (folders without a manifest are left out)."""
    found = [_read(p) for p in sorted((dest / "backups").glob(f"*/{MANIFEST}"))]
    return sorted(found, key=lambda b: b.created_at)


def _read(manifest: Path) -> Backup:
    try:
        return Backup(**json.loads(manifest.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise BackupError(f"{manifest} is not a backup manifest of this lakehouse ({error})") from error


def checked(dest: Path, backup_id: str | None = None) -> Backup:
    """The backup to restore (default: the newest), refused with the reason when it is incomplete or
    from another format or version of the lakehouse."""
    if backup_id is not None:
        manifest = dest / "backups" / backup_id / MANIFEST
        if not manifest.is_file():
            raise BackupError(f"{dest}: backup {backup_id} is incomplete or absent (no {MANIFEST})")
        backup = _read(manifest)
    else:
        complete = backups(dest)
        if not complete:
            raise BackupError(f"{dest} holds no complete backup (no backups/<id>/{MANIFEST})")
        backup = complete[-1]
    if (backup.format, backup.lakehouse_version) != (FORMAT, lakehouse_version()):
        raise BackupError(
            f"backup {backup.id} is of format {backup.format} from lakehouse {backup.lakehouse_version}; "
            f"this is format {FORMAT}, lakehouse {lakehouse_version()}: restore it with that version"
        )
    missing = [
        f"{n}/{f}"
        for n, t in backup.tables.items()
        for f in t["files"]
        if not (dest / "files" / n / f).is_file()
    ]
    if missing:
        raise BackupError(
            f"backup {backup.id} is incomplete: {len(missing)} files missing from {dest / 'files'}, "
            f"e.g. {missing[0]}"
        )
    return backup


def restore(
    dest: Path, data_dir: Path, run_history: Path | None, backup_id: str | None, force: bool
) -> Backup:
    """Bring the tables (and the catalog and run history) back from a backup.

    Refused over a lakehouse that has tables unless `force`. The tables are restored into a folder
    beside the live one, checked (every table at its recorded version), then swapped in.
    """
    backup = checked(dest, backup_id)
    tables_dir = data_dir / "tables"
    if live_tables(tables_dir) and not force:
        raise BackupError(
            f"{tables_dir} holds a live lakehouse: restoring backup {backup.id} would replace it; "
            "pass --force to do so"
        )
    staging = data_dir / "tables.restoring"
    shutil.rmtree(staging, ignore_errors=True)
    for name, table in backup.tables.items():
        for relative in table["files"]:
            target = staging / name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(dest / "files" / name / relative, target)
        restored = DeltaTable(str(staging / name)).version()
        if restored != table["version"]:
            raise BackupError(
                f"{name}: restored at version {restored}, the backup recorded {table['version']}"
            )
    replaced = data_dir / "tables.replaced"
    if tables_dir.exists():
        tables_dir.rename(replaced)
    staging.rename(tables_dir)
    shutil.rmtree(replaced, ignore_errors=True)
    folder = dest / "backups" / backup.id
    if (folder / CATALOG_FILE).is_file():
        shutil.copy2(folder / CATALOG_FILE, data_dir / CATALOG_FILE)
    if run_history is not None and (folder / RUN_HISTORY).is_dir():
        shutil.rmtree(run_history, ignore_errors=True)
        _copy_sqlite(folder / RUN_HISTORY, run_history)
    return backup


@dataclass(frozen=True)
class Pruned:
    """Backups past their retention, and the pool files no kept backup needs (removed or, dry, not)."""

    backups: list[str]
    files: int
    kept: int


def prune(dest: Path, keep_days: int, now: datetime | None = None, dry_run: bool = False) -> Pruned:
    """Remove the backups older than `keep_days` (never the newest one), then every pooled file that
    no remaining backup lists; the manifest goes first, so an interrupted prune leaves no backup
    that points at missing files."""
    found = backups(dest)
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    expired = [b for b in found[:-1] if datetime.fromisoformat(b.created_at) < cutoff]
    kept = [b for b in found if b not in expired]
    needed = {dest / "files" / name / f for b in kept for name, t in b.tables.items() for f in t["files"]}
    unneeded = [p for p in (dest / "files").rglob("*") if p.is_file() and p not in needed] if expired else []
    if not dry_run:
        for backup in expired:
            (dest / "backups" / backup.id / MANIFEST).unlink()
            shutil.rmtree(dest / "backups" / backup.id)
        for path in unneeded:
            path.unlink()
    return Pruned([b.id for b in expired], len(unneeded), len(kept))
