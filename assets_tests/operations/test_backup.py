"""Backups of a real build: restored after its data folder's tables are lost, identical to the originals."""

import json
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse, copy_of_build
from assets_tests.object_store import ObjectStore
from lakehouse.lib.storage import audit, delta_tables
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec
from lakehouse.operations.backup import BackupError, backups, create, live_tables, prune, restore
from lakehouse.settings import get_settings


@pytest.fixture
def built(tmp_path: Path, instance: dg.DagsterInstance) -> Lakehouse:
    return copy_of_build(tmp_path / "lakehouse", instance, scale=0.01, seed=42, days=30)


def snapshot(tables_dir: Path) -> dict[str, tuple[int, pl.DataFrame]]:
    """Each table's version and rows, in a stable order."""
    return {
        name: (
            delta_tables.version(str(tables_dir / name)),
            pl.read_delta(str(tables_dir / name)).sort(pl.all()),
        )
        for name in live_tables(tables_dir)
    }


def test_a_lost_data_folder_is_restored_identical(built: Lakehouse, tmp_path: Path):
    history = tmp_path / "history"
    history.mkdir()
    original = snapshot(built.settings.tables_dir)

    first = create(built.settings, tmp_path / "backups", history)
    again = create(built.settings, tmp_path / "backups", history)
    shutil.rmtree(built.settings.tables_dir)
    restored = restore(built.settings, tmp_path / "backups", history, None, force=False)

    assert restored.id == again.id and [b.id for b in backups(tmp_path / "backups")] == [first.id, again.id]
    assert first.copied_files == first.files > 0 and again.copied_files == 0  # incremental by file name
    now = snapshot(built.settings.tables_dir)
    assert sorted(now) == sorted(original) and len(now) == len(first.tables)
    for name, (version, rows) in original.items():
        assert now[name][0] == version, name
        assert now[name][1].equals(rows), name


def test_restoring_over_a_live_lakehouse_needs_force(built: Lakehouse, tmp_path: Path):
    create(built.settings, tmp_path / "backups", None)

    with pytest.raises(BackupError, match=r"holds a live lakehouse: .* pass --force"):
        restore(built.settings, tmp_path / "backups", None, None, force=False)
    restore(built.settings, tmp_path / "backups", None, None, force=True)

    assert (built.settings.data_dir / "tables" / "curated" / "dim_date" / "_delta_log").is_dir()


def test_an_incomplete_backup_or_one_of_another_version_is_refused(built: Lakehouse, tmp_path: Path):
    dest = tmp_path / "backups"
    made = create(built.settings, dest, None)
    (dest / "backups" / "20990101T000000000000").mkdir()  # interrupted: no manifest

    with pytest.raises(BackupError, match="backup 20990101T000000000000 is incomplete or absent"):
        restore(built.settings, dest, None, "20990101T000000000000", force=True)
    lost = next((dest / "files").rglob("*.parquet"))
    lost.unlink()
    with pytest.raises(BackupError, match=f"backup {made.id} is incomplete: 1 files missing"):
        restore(built.settings, dest, None, None, force=True)
    manifest = dest / "backups" / made.id / "backup.json"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"format": 0}))
    with pytest.raises(BackupError, match=r"is of format 0 from lakehouse .*: restore it with that version"):
        restore(built.settings, dest, None, None, force=True)
    assert live_tables(built.settings.tables_dir)  # nothing was touched


def test_a_backup_to_an_object_store_is_restored_identical(
    built: Lakehouse, object_store: ObjectStore, tmp_path: Path
):
    dest = f"s3://{object_store.create_bucket('backups')}/lakehouse"
    original = snapshot(built.settings.tables_dir)

    made = create(built.settings, dest, None)
    shutil.rmtree(built.settings.tables_dir)
    restore(built.settings, dest, None, None, force=False)

    assert [b.id for b in backups(dest)] == [made.id] and made.copied_files == made.files
    now = snapshot(built.settings.tables_dir)
    assert sorted(now) == sorted(original)
    for name, (version, rows) in original.items():
        assert now[name][0] == version and now[name][1].equals(rows), name


def test_a_backup_waits_for_a_run_launched_outside_the_cli(built: Lakehouse, tmp_path: Path):
    """A run of the instance (as the UI, a schedule or a sensor launches one) that commits to a
    table while the backup starts: the backup reads the versions after it, not in the middle."""
    audit_log = str(built.settings.tables_dir / "audit" / "log")
    version = delta_tables.version(audit_log)

    @dg.asset
    def slow_writer() -> None:
        time.sleep(2)
        audit.record(built.settings.tables_dir, operation="test", table="audit/log", version=None)

    said: list[str] = []
    (tmp_path / "instance").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "instance")) as instance:
        run = threading.Thread(target=lambda: dg.materialize([slow_writer], instance=instance))
        run.start()
        while not instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            time.sleep(0.05)
        made = create(built.settings, tmp_path / "backups", None, instance, said.append)
        run.join()

    assert made.tables["audit/log"]["version"] == version + 1  # the run's commit is in
    assert said[0].startswith("waiting for run ")


def test_backups_past_their_retention_go_with_the_files_only_they_need(tmp_path: Path):
    """Two backups of a one-table lakehouse, the table overwritten between them: 36 days on, the
    first goes (35 days kept) with the data file only it lists; the newest always stays."""
    settings, dest = get_settings(tmp_path / "data"), tmp_path / "backups"
    uri = str(settings.tables_dir / "raw" / "orders")
    write = WriteSpec(WriteMode.OVERWRITE)
    delta_tables.write(uri, pl.DataFrame({"_batch_id": ["b0"], "_row_number": [0]}), write, {})
    first = create(settings, dest, None)
    delta_tables.write(uri, pl.DataFrame({"_batch_id": ["b1"], "_row_number": [0]}), write, {})
    second = create(settings, dest, None)
    pooled = sorted(p.name for p in (dest / "files").rglob("*.parquet"))
    later = datetime.now(UTC) + timedelta(days=36)

    preview = prune(dest, 35, later, dry_run=True)
    assert (preview.backups, preview.files, preview.kept) == ([first.id], 1, 1)
    assert [b.id for b in backups(dest)] == [first.id, second.id]

    prune(dest, 35, later)

    assert [b.id for b in backups(dest)] == [second.id]
    assert len(pooled) == 2 and sorted(p.name for p in (dest / "files").rglob("*.parquet")) == [
        Path(f).name for f in second.tables["raw/orders"]["files"] if f.endswith(".parquet")
    ]
    restore(get_settings(tmp_path / "restored"), dest, None, None, force=False)  # the kept backup is whole
    assert prune(dest, 35, later + timedelta(days=100)).backups == []  # the newest is never pruned
