"""Frames a step holds on disk, not in memory, between reading them and writing them in one commit.

A step whose rows follow the size of a source (an extraction after a pause of days) reads them a
batch at a time, but must know what it read (counts, the newest change, whether anything is new)
before its output is written: it spills each batch to Parquet as it goes, then hands the files
back a file at a time. A refine step's staging (`defs/refined/staging.py`) spills the same way,
each window sorted by key.

Every spill goes to a folder of its own (`scratch_folder`) under the run's scratch folder
(`DeltaStore.scratch`: `data/scratch` from the settings; everything the lakehouse writes stays under
`data/`), removed when the step is done with it. A process killed mid-step (kill -9, out of memory)
cannot remove its folder, so each folder says whether its maker still holds it by an `flock` on
its lock file, held from the folder's making to its removal: the kernel lets go of a process's
locks when it dies, zombie or not, whatever its host's name or its reused id. `remove_abandoned`
(`lakehouse runs reap`, the daemon's `reap_dead_runs` sensor, the maintenance) removes the folders
whose lock it can take, and never one in use.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import polars as pl

from lakehouse.lib.columns import BATCH_ID
from lakehouse.lib.storage.row_batches import Reread, RowBatches

# Spilled files live for one step and are read once or twice: LZ4 costs a third less CPU than the
# default zstd to write, for files about a third larger.
SPILL_COMPRESSION = "lz4"
# In each scratch folder: locked by the process using the folder, for as long as it does.
LOCK_FILE = ".lock"


@dataclass
class SpilledFrames:
    """Frames of one schema written to `folder` in order (`add`), read back a file at a time."""

    folder: Path
    schema: pl.Schema | None = None
    rows: int = 0
    files: list[Path] = field(default_factory=list)
    # rows of a file's row groups (None: Polars' default); smaller groups let a filtered scan skip more
    row_group_size: int | None = None

    def add(self, frame: pl.DataFrame) -> None:
        self.schema = self.schema or frame.schema
        if frame.is_empty():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.files):06d}.parquet"
        frame.write_parquet(path, compression=SPILL_COMPRESSION, row_group_size=self.row_group_size)
        self.files.append(path)
        self.rows += frame.height

    def frames(self) -> Iterator[pl.DataFrame]:
        for path in self.files:
            yield pl.read_parquet(path)

    def scan(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.files) if self.files else pl.LazyFrame(schema=self.schema)

    def batches(self) -> RowBatches:
        """The frames as an append's row batches, with the source batch ids among them."""
        assert self.schema is not None, "no frame was added"
        ids = self.scan().select(pl.col(BATCH_ID).unique().sort()).collect().get_column(BATCH_ID).to_list()
        return RowBatches(self.schema, Reread(self.frames), ids, rows=self.scan())


@contextmanager
def scratch_folder(scratch: Path, prefix: str) -> Iterator[Path]:
    """A new folder `<scratch>/<prefix><random>` for one step's spills, held locked (see the
    module's docstring) until the context ends, then removed with its files."""
    while (made := _locked_folder(scratch, prefix)) is None:
        pass  # removed by a reaper between its making and its locking: make another
    folder, lock = made
    with lock:
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # before the lock goes with the file's closing


def _locked_folder(scratch: Path, prefix: str) -> tuple[Path, IO[str]] | None:
    """A new folder under `scratch` and its lock file, locked; None when a reaper removed it first
    (it takes the lock of a folder whose lock is not yet taken, then removes it)."""
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch))
    try:
        lock = (folder / LOCK_FILE).open("a")
    except FileNotFoundError:
        return None
    fcntl.flock(lock, fcntl.LOCK_EX)  # waits while a reaper holds it
    if os.fstat(lock.fileno()).st_nlink == 0:  # the reaper removed the folder meanwhile
        lock.close()
        return None
    return folder, lock


def remove_abandoned(scratch: Path) -> list[Path]:
    """Remove the folders under `scratch` whose lock this process can take (their maker is gone);
    returns them. A folder whose lock is held is in use, and left alone."""
    if not scratch.is_dir():
        return []
    removed = []
    for folder in sorted(path for path in scratch.iterdir() if path.is_dir()):
        try:  # never creates the lock: a folder without one is not a spill folder, or not yet
            lock = os.fdopen(os.open(folder / LOCK_FILE, os.O_RDWR))
        except FileNotFoundError:
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
