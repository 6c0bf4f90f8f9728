"""Scratch folders: under the data folder, named after their process, removed when done, and the
folders of a process that is gone removed by the reaper."""

import os
import subprocess
import sys

from lakehouse.lib.storage.spill import remove_orphaned_scratch, scratch_folder


def test_a_scratch_folder_lives_under_the_data_folder_for_its_context(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    with scratch_folder("refine-orders-") as folder:
        (folder / "000000.parquet").write_bytes(b"x")
        assert folder.parent == tmp_path / "scratch"
        assert folder.name.startswith(f"refine-orders-{os.getpid()}-")
    assert list((tmp_path / "scratch").iterdir()) == []


def test_the_reaper_removes_only_the_folders_of_processes_gone(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid, live_pid = int(gone.stdout), os.getpid()
    orphan = tmp_path / f"extract-order_items-{dead_pid}-abc123"
    running = tmp_path / f"sessions-{live_pid}-def456"
    unnamed = tmp_path / "someone-elses"
    for folder in (orphan, running, unnamed):
        folder.mkdir()
        (folder / "part.parquet").write_bytes(b"x")

    assert remove_orphaned_scratch(tmp_path) == [orphan]
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name, unnamed.name]
