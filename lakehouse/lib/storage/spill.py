"""Frames a step holds on disk, not in memory, between reading them and writing them in one commit.

A step whose rows follow the size of a source (an extraction after a pause of days) reads them a
batch at a time, but must know what it read (counts, the newest change, whether anything is new)
before its output is written: it spills each batch to Parquet as it goes, then hands the files
back a file at a time. The folder is the step's (a temporary one, removed when the step ends).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

# Spilled files live for one step and are read once: LZ4 costs a third less CPU than the default
# zstd to write, for files about a third larger.
SPILL_COMPRESSION = "lz4"


@dataclass
class SpilledFrames:
    """Frames written to `folder` in order (empty ones skipped), read back a file at a time."""

    folder: Path
    rows: int = 0
    files: list[Path] = field(default_factory=list)

    def add(self, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.files):06d}.parquet"
        frame.write_parquet(path, compression=SPILL_COMPRESSION)
        self.files.append(path)
        self.rows += frame.height

    def frames(self) -> Iterator[pl.DataFrame]:
        return (pl.read_parquet(path) for path in self.files)
