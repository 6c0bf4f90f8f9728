"""Frames a step holds on disk, not in memory, between reading them and writing them in one commit.

A step whose rows follow the size of a source (an extraction after a pause of days) reads them a
batch at a time, but must know what it read (counts, the newest change, whether anything is new)
before its output is written: it spills each batch to Parquet as it goes, then hands the files
back a file at a time. The folder is the step's (a temporary one, removed when the step ends).
A refine step's staging (`defs/refined/staging.py`) spills the same way, each window sorted by key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lakehouse.lib.columns import BATCH_ID
from lakehouse.lib.storage.row_batches import Reread, RowBatches

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
