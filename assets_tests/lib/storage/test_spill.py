"""Scratch folders: locked by their process while in use, removed when done; a killed process's
folder removed by `remove_abandoned`, and a folder in use never touched. The processes are real:
each holds a folder, one is killed with SIGKILL (and left a zombie while the reaper looks)."""

import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.lib.storage.spill import LOCK_FILE, remove_abandoned, scratch_folder
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.settings import get_settings

# Holds a scratch folder under argv[1], says which, and waits to be killed.
HOLDER = """
import sys, time
from pathlib import Path
from lakehouse.lib.storage.spill import scratch_folder

with scratch_folder(Path(sys.argv[1]), sys.argv[2]) as folder:
    (folder / "000000.parquet").write_bytes(b"rows")
    print(folder, flush=True)
    time.sleep(120)
"""


def test_a_scratch_folder_is_held_while_in_use_and_removed_after(tmp_path: Path):
    with scratch_folder(tmp_path, "refine-orders-") as folder:
        (folder / "000000.parquet").write_bytes(b"rows")
        assert folder.parent == tmp_path and folder.name.startswith("refine-orders-")
        assert remove_abandoned(tmp_path) == []  # its lock is held (another open file's lock conflicts)
        assert sorted(p.name for p in folder.iterdir()) == [LOCK_FILE, "000000.parquet"]
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_a_lock_file_is_never_removed(tmp_path: Path):
    """Not a spill folder (or one whose maker has not locked it yet): the reaper creates no lock."""
    (tmp_path / "someone-elses" / "notes").mkdir(parents=True)
    assert remove_abandoned(tmp_path) == []
    assert [p.name for p in (tmp_path / "someone-elses").iterdir()] == ["notes"]


def test_a_store_spills_under_the_scratch_folder_it_is_given_else_beside_its_tables(tmp_path: Path):
    assert DeltaStore(root=str(tmp_path / "tables")).scratch == tmp_path / "scratch"
    settings = get_settings(tmp_path / "data")  # one rule: a store over its tables spills where it says
    assert DeltaStore(root=str(settings.tables_dir)).scratch == settings.scratch_dir
    assert settings.scratch_dir == tmp_path / "data" / "scratch"
    given = DeltaStore(root="s3://bucket/tables", scratch_dir=str(tmp_path / "data" / "scratch"))
    assert given.scratch == tmp_path / "data" / "scratch"
    with pytest.raises(ValueError, match="has no scratch_dir: spills are local files"):
        DeltaStore(root="s3://bucket/tables").scratch  # noqa: B018


@pytest.fixture
def holders(tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen, Path]]]:
    """Two processes, each holding a scratch folder under `tmp_path`, killed at the end."""
    command = [sys.executable, "-c", HOLDER, str(tmp_path)]
    started = [
        subprocess.Popen([*command, prefix], stdout=subprocess.PIPE, text=True)
        for prefix in ("extract-order_items-", "sessions-")
    ]
    try:
        yield [(process, Path(process.stdout.readline().strip())) for process in started]
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_only_the_folders_of_killed_processes_are_removed(tmp_path: Path, holders):
    (killed, orphaned), (alive, in_use) = holders
    assert sorted(tmp_path.iterdir()) == sorted([orphaned, in_use])

    killed.send_signal(signal.SIGKILL)
    os.waitid(os.P_PID, killed.pid, os.WEXITED | os.WNOWAIT)  # dead, not yet waited for: a zombie
    assert remove_abandoned(tmp_path) == [orphaned]

    assert list(tmp_path.iterdir()) == [in_use]
    assert sorted(p.name for p in in_use.iterdir()) == [LOCK_FILE, "000000.parquet"]
    alive.send_signal(signal.SIGKILL)
    alive.wait()
    assert remove_abandoned(tmp_path) == [in_use]
    assert list(tmp_path.iterdir()) == []


# The reaper as `lakehouse runs reap` runs it, in a process of its own: prints what it removed.
REAPER = """
import sys
from pathlib import Path
from lakehouse.lib.storage.spill import remove_abandoned

print(*remove_abandoned(Path(sys.argv[1])), sep="\\n")
"""


def test_a_folder_reaped_between_its_making_and_its_locking_is_made_again(tmp_path: Path, monkeypatch):
    """The race `_locked_folder` retries: a reaper takes the lock of a folder its maker has made
    (lock file and all) but not yet locked, and removes it. The reaper is a real process, run
    just before the maker's own (real) lock: the maker finds its lock file unlinked and makes
    another folder, which it holds."""
    flock, reaped = fcntl.flock, []

    def reaper_first(file: object, operation: int) -> None:
        if operation == fcntl.LOCK_EX and not reaped:  # the maker's first lock, not yet taken
            reaper = [sys.executable, "-c", REAPER, str(tmp_path)]
            printed = subprocess.run(reaper, capture_output=True, text=True).stdout
            reaped.extend(Path(line) for line in printed.split())
        flock(file, operation)

    monkeypatch.setattr(fcntl, "flock", reaper_first)
    with scratch_folder(tmp_path, "refine-orders-") as folder:
        monkeypatch.undo()
        (first,) = reaped
        assert first.name.startswith("refine-orders-") and not first.exists()
        assert folder != first and folder.name.startswith("refine-orders-")
        assert list(tmp_path.iterdir()) == [folder]
        assert remove_abandoned(tmp_path) == []  # held
    assert list(tmp_path.iterdir()) == []


def test_a_finished_build_spilled_under_its_data_folder_and_left_nothing(lakehouse):
    """The demo build (extractions, refine staging, sessions) made its spill folders under its data
    folder, removed them all, and left nothing in the system's temporary folder (an empty one of
    its own: `Lakehouse.build`). What a killed build leaves: `test_crash_recovery`."""
    assert lakehouse.outcome.success
    assert lakehouse.settings.scratch_dir.is_dir()
    assert list(lakehouse.settings.scratch_dir.iterdir()) == []
    assert lakehouse.temp_left == []
