"""Frames a step holds on disk, not in memory, between reading them and writing them in one commit.

A step whose rows follow the size of a source (an extraction after a pause of days) reads them a
batch at a time, but must know what it read (counts, the newest change, whether anything is new)
before its output is written: it spills each batch to Parquet as it goes, then hands the files
back a file at a time. The folder is the step's (a temporary one, removed when the step ends).
A refine step's staging (`defs/refined/staging.py`) spills the same way, each window sorted by key.

Every spill goes to a `scratch_folder` under the data folder's `scratch/` (everything the lakehouse
writes stays under `data/`), named after the process that made it: a process killed mid-step (kill
-9, out of memory) cannot remove its folder, so the reaper (`lakehouse runs reap`, the daemon's
`reap_dead_runs` sensor) removes the folders of processes that are gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import psutil

from lakehouse.lib.columns import BATCH_ID
from lakehouse.lib.storage.row_batches import Reread, RowBatches
from lakehouse.settings import get_settings

# Spilled files live for one step and are read once or twice: LZ4 costs a third less CPU than the
# default zstd to write, for files about a third larger.
SPILL_COMPRESSION = "lz4"


@dataclass
class SpilledFrames:
    """Frames of one schema written to `folder` in order (`add`), read back a file at a time."""

    folder: Path
    schema: pl.Schema | None = None
    rows: int = 0
    files: list[Path] = field(default_factory=list)
    order: tuple[str, ...] = ()  # the columns each frame is sorted by as it is read back
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
            frame = pl.read_parquet(path)
            yield frame.sort(self.order) if self.order else frame

    def scan(self) -> pl.LazyFrame:
        return pl.scan_parquet(self.files) if self.files else pl.LazyFrame(schema=self.schema)

    def batches(self) -> RowBatches:
        """The frames as an append's row batches, with the source batch ids among them."""
        assert self.schema is not None, "no frame was added"
        ids = self.scan().select(pl.col(BATCH_ID).unique().sort()).collect().get_column(BATCH_ID).to_list()
        return RowBatches(self.schema, Reread(self.frames), ids, rows=self.scan())


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A new empty folder under the data folder's `scratch/`, removed with its files when the
    context ends; its name says which process made it (`<prefix><pid>-<random>`)."""
    root = get_settings().scratch_dir
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-", dir=root) as folder:
        yield Path(folder)


def remove_orphaned_scratch(root: Path) -> list[Path]:
    """Remove the scratch folders under `root` whose process is gone (killed mid-step); returns them."""
    orphaned = [folder for folder in root.glob("*-*") if folder.is_dir() and not _maker_alive(folder)]
    for folder in orphaned:
        shutil.rmtree(folder, ignore_errors=True)
    return orphaned


def _maker_alive(folder: Path) -> bool:
    """Whether the process named in the folder's name still runs (a name without one: kept)."""
    pid = folder.name.rsplit("-", 2)[-2] if folder.name.count("-") >= 2 else ""
    return not pid.isdigit() or psutil.pid_exists(int(pid))
