"""Backups of the whole lakehouse: every table at one point in time, the catalog and the run history.

A backup folder (a local folder, or an object store's `s3://bucket/prefix`) holds a pool of files
and one manifest per backup:

    DEST/files/<layer>/<table>/...           data files and Delta log entries, shared by every backup
    DEST/backups/<id>/backup.json            each table's version and the files it needs
    DEST/backups/<id>/lakehouse.duckdb       the serving catalog
    DEST/backups/<id>/run_history/...        the Dagster instance's SQLite files

One point in time: every table's version is read while no run writes. The backup holds the data
folder's run lock (which `lakehouse run` takes) and, for the runs launched from the UI, by a
schedule or a sensor (which take no lock of the CLI's), reads the versions only while the Dagster
instance has no run in progress, and reads them again if a run started meanwhile. A table at a
version is its log up to that version and the data files that version references; Delta never
rewrites a file under the same name, so a file already in the pool is not copied again: every
backup after the first copies only what is new (incremental by file name and size). The manifest
is written last (one put on an object store, a rename in a folder), so a backup interrupted midway
has none and is refused, as is one from another format or version of the lakehouse.

The tables may live on the object store too (`LAKEHOUSE_TABLES_URI`): a backup reads them there.
A restore writes the tables into the local tables folder only (staged beside it, then swapped in):
an object store has no atomic swap of a folder.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import dagster as dg
from deltalake import DeltaTable

from lakehouse.lib import run_lock
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.location import filesystem, is_remote, join, table_uris
from lakehouse.settings import Settings

if TYPE_CHECKING:
    import fsspec

FORMAT = 1
MANIFEST = "backup.json"
CATALOG_FILE = "lakehouse.duckdb"
RUN_HISTORY = "run_history"
LOG_ENTRY = re.compile(r"^(\d{20})\.(json|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")
COPY_CHUNK = 8 * 1024 * 1024
# Runs that may be writing: started, or being cancelled (a queued run has not begun).
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
RUN_WAIT_SECONDS, RUN_POLL_SECONDS = 3600.0, 1.0
T = TypeVar("T")
Echo = Callable[[str], None]


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


def live_tables(tables_root: str | Path) -> list[str]:
    """The tables under a tables folder or prefix, `layer/table`, by name."""
    return list(table_uris(tables_root))


def between_runs(
    instance: dg.DagsterInstance | None,
    read: Callable[[], T],
    echo: Echo,
    wait_seconds: float = RUN_WAIT_SECONDS,
) -> T:
    """`read()` at a moment when the instance has no run in progress, waiting for those that are;
    read again when a run started or ended meanwhile (its status changed since the read began)."""
    if instance is None:
        return read()
    deadline, announced = time.monotonic() + wait_seconds, set()
    while True:
        began = datetime.now(UTC)
        running = instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS))
        if not running:
            value = read()
            if not instance.get_run_records(filters=dg.RunsFilter(updated_after=began), limit=1):
                return value
            continue
        ids = sorted(r.dagster_run.run_id for r in running)
        if time.monotonic() > deadline:
            raise BackupError(
                f"runs {', '.join(ids)} have been in progress for over {wait_seconds:.0f} s; a backup "
                "reads the tables between runs. If a run's process is gone, run monitoring marks it "
                "failed (or terminate it in the UI); then back up again"
            )
        if set(ids) - announced:
            echo(f"waiting for run {', '.join(ids)} to finish before reading the tables' versions …")
            announced |= set(ids)
        time.sleep(RUN_POLL_SECONDS)


def _bare(uri: str | Path) -> str:
    """A path as fsspec lists it: `bucket/key` on the object store, absolute locally."""
    return str(uri).removeprefix("s3://") if is_remote(uri) else os.path.abspath(uri)


@functools.cache
def _filesystem(remote: bool) -> fsspec.AbstractFileSystem:
    """One filesystem of each kind for the process (listings are never cached: see `location`);
    a new S3 filesystem costs a session of its own, far more than copying a small file."""
    return filesystem("s3://" if remote else "/")


def _files(uri: str | Path) -> fsspec.AbstractFileSystem:
    return _filesystem(is_remote(uri))


def _listing(root: str) -> dict[str, int]:
    """Every file under `root` by its path relative to it, with its size ({} if there is none)."""
    files = _files(root)
    if not files.exists(root):
        return {}
    prefix = _bare(root).rstrip("/") + "/"  # fsspec lists paths bare, as `_bare` makes them
    return {p.removeprefix(prefix): int(info["size"]) for p, info in files.find(root, detail=True).items()}


def _copy(source: str, target: str) -> None:
    """One file, streamed, between folders or object stores."""
    _copy_all([(source, target)])


def _copy_all(pairs: list[tuple[str, str]]) -> None:
    """Files (source, target) between a folder and an object store, many at once (an upload or a
    download of each over concurrent requests), or streamed one by one."""
    if not pairs:
        return
    sources, targets = (list(column) for column in zip(*pairs, strict=True))
    for target in targets:
        if not is_remote(target):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
    up, down = (
        is_remote(targets[0]) and not is_remote(sources[0]),
        is_remote(sources[0]) and not is_remote(targets[0]),
    )
    if up:
        _files(targets[0]).put(sources, targets)
    elif down:
        _files(sources[0]).get(sources, targets)
    else:
        for source, target in pairs:
            with _files(source).open(source, "rb") as reader, _files(target).open(target, "wb") as writer:
                shutil.copyfileobj(reader, writer, COPY_CHUNK)


def _write_whole(target: str, text: str) -> None:
    """A file that is whole or absent: one put on the object store, a rename in a folder."""
    if is_remote(target):
        _files(target).pipe_file(target, text.encode())
        return
    partial = Path(f"{target}.partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(text)
    partial.replace(target)


def table_files(uri: str, at_version: int) -> list[str]:
    """The files of a table at a version: its log entries up to it, and the data files it references."""
    names = (p.rsplit("/", 1)[-1] for p in _files(uri).ls(join(uri, "_delta_log"), detail=False))
    entries = (n for n in names if (m := LOG_ENTRY.match(n)) and int(m.group(1)) <= at_version)
    log = sorted(f"_delta_log/{n}" for n in entries)
    prefix = _bare(uri).rstrip("/") + "/"
    data = (_bare(f).removeprefix(prefix) for f in DeltaTable(uri, version=at_version).file_uris())
    return [*log, *sorted(data)]


def create(
    settings: Settings,
    dest: str | Path,
    run_history: Path | None,
    instance: dg.DagsterInstance | None = None,
    echo: Echo = lambda _: None,
) -> Backup:
    """Back up the lakehouse of `settings` (and the run history's SQLite files) to `dest`; the
    versions are read between the runs of `instance` (see the module's docstring)."""
    dest, tables_root = str(dest), settings.tables_uri
    uris = table_uris(tables_root)
    with run_lock.holding(settings.data_dir, exclusive=True, wait=True):  # waits for running builds
        versions = between_runs(instance, lambda: {n: delta_tables.version(u) for n, u in uris.items()}, echo)
    if not versions:
        raise BackupError(f"no tables in {tables_root} to back up")
    now = datetime.now(UTC)
    backup_id = f"{now:%Y%m%dT%H%M%S%f}"
    folder = join(dest, "backups", backup_id)
    tables, pooled, copies, copied_bytes = {}, _listing(join(dest, "files")), [], 0
    for name, at in versions.items():
        files, held = table_files(uris[name], at), _listing(uris[name])
        new = [f for f in files if pooled.get(f"{name}/{f}") != held[f]]  # immutable by name
        copies += [(join(uris[name], f), join(dest, "files", name, f)) for f in new]
        copied_bytes += sum(held[f] for f in new)
        tables[name] = {"version": at, "files": files}
    echo(f"copying {len(copies)} new files of {len(tables)} tables to {dest} …")
    _copy_all(copies)
    if settings.catalog_path.is_file():
        _copy(str(settings.catalog_path), join(folder, CATALOG_FILE))
    if run_history is not None and run_history.is_dir():
        _save_run_history(run_history, join(folder, RUN_HISTORY))
    backup = Backup(
        backup_id, now.isoformat(), FORMAT, lakehouse_version(), tables, len(copies), copied_bytes
    )
    _write_whole(join(folder, MANIFEST), json.dumps(asdict(backup), indent=1))  # last: whole or absent
    return backup


def _save_run_history(run_history: Path, target: str) -> None:
    """A consistent copy of the run history's SQLite files, made locally, then copied to `target`."""
    with tempfile.TemporaryDirectory() as staging:
        _copy_sqlite(run_history, Path(staging))
        _copy_all([(str(Path(staging, f)), join(target, *f.split("/"))) for f in _listing(staging)])


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


def backups(dest: str | Path) -> list[Backup]:
    """The complete backups in `dest`, oldest first (folders without a manifest are left out)."""
    manifests = _files(dest).glob(_bare(join(str(dest), "backups", "*", MANIFEST)))
    found = [_read(f"s3://{m}" if is_remote(dest) else m) for m in sorted(manifests)]
    return sorted(found, key=lambda b: b.created_at)


def _read(manifest: str) -> Backup:
    try:
        return Backup(**json.loads(_files(manifest).cat_file(manifest)))
    except (json.JSONDecodeError, TypeError) as error:
        raise BackupError(f"{manifest} is not a backup manifest of this lakehouse ({error})") from error


def checked(dest: str | Path, backup_id: str | None = None) -> Backup:
    """The backup to restore (default: the newest), refused with the reason when it is incomplete or
    from another format or version of the lakehouse."""
    dest = str(dest)
    if backup_id is not None:
        manifest = join(dest, "backups", backup_id, MANIFEST)
        if not _files(manifest).exists(manifest):
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
    pooled = _listing(join(dest, "files"))
    missing = [f"{n}/{f}" for n, t in backup.tables.items() for f in t["files"] if f"{n}/{f}" not in pooled]
    if missing:
        raise BackupError(
            f"backup {backup.id} is incomplete: {len(missing)} files missing from {join(dest, 'files')}, "
            f"e.g. {missing[0]}"
        )
    return backup


def restore(
    settings: Settings, dest: str | Path, run_history: Path | None, backup_id: str | None, force: bool
) -> Backup:
    """Bring the tables (and the catalog and run history) back from a backup in `dest`.

    Refused over a lakehouse that has tables unless `force`. The tables are restored into a folder
    beside the live one, checked (every table at its recorded version), then swapped in.
    """
    if is_remote(settings.tables_uri):
        raise BackupError(
            f"restoring onto an object store ({settings.tables_uri}) is not supported: restore into "
            "a local tables folder (unset LAKEHOUSE_TABLES_URI), then copy it to the store"
        )
    dest, data_dir, tables_dir = str(dest), settings.data_dir, settings.tables_dir
    backup = checked(dest, backup_id)
    if live_tables(tables_dir) and not force:
        raise BackupError(
            f"{tables_dir} holds a live lakehouse: restoring backup {backup.id} would replace it; "
            "pass --force to do so"
        )
    staging = data_dir / "tables.restoring"
    shutil.rmtree(staging, ignore_errors=True)
    tables = backup.tables.items()
    _copy_all([(join(dest, "files", n, f), str(staging / n / f)) for n, t in tables for f in t["files"]])
    for name, table in tables:
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
    folder = join(dest, "backups", backup.id)
    if _files(folder).exists(join(folder, CATALOG_FILE)):
        _copy(join(folder, CATALOG_FILE), str(settings.catalog_path))
    history = _listing(join(folder, RUN_HISTORY))
    if run_history is not None and history:
        with tempfile.TemporaryDirectory() as staging_history:
            pooled = join(folder, RUN_HISTORY)
            _copy_all([(join(pooled, *f.split("/")), str(Path(staging_history, f))) for f in history])
            shutil.rmtree(run_history, ignore_errors=True)
            _copy_sqlite(Path(staging_history), run_history)
    return backup


@dataclass(frozen=True)
class Pruned:
    """Backups past their retention, and the pool files no kept backup needs (removed or, dry, not)."""

    backups: list[str]
    files: int
    kept: int


def prune(dest: str | Path, keep_days: int, now: datetime | None = None, dry_run: bool = False) -> Pruned:
    """Remove the backups older than `keep_days` (never the newest one), then every pooled file that
    no remaining backup lists; the manifest goes first, so an interrupted prune leaves no backup
    that points at missing files. `dest`: a folder or an object store's prefix."""
    dest = str(dest)
    found = backups(dest)
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    expired = [b for b in found[:-1] if datetime.fromisoformat(b.created_at) < cutoff]
    kept = [b for b in found if b not in expired]
    needed = {f"{name}/{f}" for b in kept for name, t in b.tables.items() for f in t["files"]}
    unneeded = [f for f in _listing(join(dest, "files")) if f not in needed] if expired else []
    if not dry_run:
        files = _files(dest)
        for backup in expired:
            folder = join(dest, "backups", backup.id)
            files.rm(join(folder, MANIFEST))
            if files.exists(folder):
                files.rm(folder, recursive=True)
        if unneeded:
            files.rm([join(dest, "files", *f.split("/")) for f in unneeded])
    return Pruned([b.id for b in expired], len(unneeded), len(kept))
