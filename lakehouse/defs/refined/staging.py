"""A refine step's rows held on disk, not in memory, until they are written in one commit.

A full build refines millions of raw rows. The step transforms them a window at a time (memory
follows the window), but a business key's newest version may be in any window, and nothing may be
committed before every window is through (a crash half-way must leave the tables as they were).
So each window's valid rows are spilled to Parquet in buckets by a hash of their key: every
version of a key lands in one bucket. Once all windows are through, each bucket (about a window's
rows) is read back, reduced to the newest row per key, and spilled again split by ranges of the
first key (bounds from a sample of every window's keys). The ranges, each sorted by key, are handed
to the IO manager one at a time (`RowBatches`), so a new table's files hold disjoint key ranges:
handed on in hash buckets, every file spanned every key, and the first day merged after a full
build rewrote nearly the whole table to update its few keys (refined/events: 1.2M rows copied to
merge 10k). The rejected records are spilled the same way, unbucketed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lakehouse.lib.columns import BATCH_ID
from lakehouse.lib.key_buckets import bucket_of, range_bounds, range_of
from lakehouse.lib.storage.row_batches import Reread, RowBatches

_BUCKET, _RANGE = "_bucket", "_range"
# Keys kept of each window to set the key ranges by: a bucket's range is then found to well
# within a percent of its rows.
SAMPLE_PER_WINDOW = 1024
# Staged files live for one step and are read once or twice: LZ4 costs a third less CPU than the
# default zstd to write, for files about a third larger.
SPILL_COMPRESSION = "lz4"


@dataclass
class SpilledFrames:
    """Frames of one schema written to `folder` in order, read back a file at a time."""

    folder: Path
    schema: pl.Schema | None = None
    rows: int = 0
    files: list[Path] = field(default_factory=list)  # a file, or a folder of a range's files
    order: tuple[str, ...] = ()  # the columns each frame is sorted by as it is read back

    def add(self, frame: pl.DataFrame) -> None:
        self.schema = self.schema or frame.schema
        if frame.is_empty():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.files):06d}.parquet"
        frame.write_parquet(path, compression=SPILL_COMPRESSION)
        self.files.append(path)
        self.rows += frame.height

    def add_by_range(self, frame: pl.DataFrame, by: pl.Expr, name: str) -> None:
        """Spill a frame split by `by` (a range number), each range's part as `name` in the range's
        folder: a frame read back is then a whole range, from every frame added."""
        self.schema = self.schema or frame.schema
        parts = frame.with_columns(by.alias(_RANGE)).partition_by(_RANGE, as_dict=True, include_key=False)
        for (number,), part in parts.items():
            folder = self.folder / f"range-{number:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            part.write_parquet(folder / f"{name}.parquet", compression=SPILL_COMPRESSION)
            self.rows += part.height
        self.files = sorted({*self.files, *(self.folder / f"range-{n:05d}" for (n,) in parts)})

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


@dataclass
class KeyBuckets:
    """Rows spilled by a hash of `keys` into `buckets` buckets, reduced bucket by bucket, and
    handed on in as many ranges of the first key, in key order."""

    folder: Path
    keys: tuple[str, ...]
    buckets: int
    windows: int = 0
    schema: pl.Schema | None = None
    sample: list[pl.Series] = field(default_factory=list)  # of each window's first keys

    def add(self, rows: pl.DataFrame) -> None:
        """Spill one window's rows, each to its key's bucket (windows kept in order)."""
        self.schema = self.schema or rows.schema
        bucket = bucket_of(self.keys, self.buckets)
        parts = rows.with_columns(bucket.alias(_BUCKET)).partition_by(
            _BUCKET, as_dict=True, include_key=False
        )
        for (number,), part in parts.items():
            folder = self.folder / f"bucket-{number:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            part.write_parquet(folder / f"window-{self.windows:06d}.parquet", compression=SPILL_COMPRESSION)
        every = max(1, rows.height // SAMPLE_PER_WINDOW)
        self.sample.append(rows.get_column(self.keys[0]).gather_every(every))
        self.windows += 1

    def reduced(self, reduce: Callable[[pl.DataFrame], pl.DataFrame], into: Path) -> SpilledFrames:
        """Each bucket's rows (in window order) reduced, spilled again to `into` by key range, to be
        read back a range at a time sorted by key."""
        sample = pl.concat(self.sample) if self.sample else pl.Series(dtype=pl.Null)
        in_range = range_of(self.keys[0], range_bounds(sample, self.buckets))
        out = SpilledFrames(into, order=self.keys)
        for folder in sorted(self.folder.glob("bucket-*")):
            out.add_by_range(reduce(pl.read_parquet(sorted(folder.glob("*.parquet")))), in_range, folder.name)
        if out.schema is None and self.schema is not None:  # no rows at all: the schema still
            out.add(reduce(pl.DataFrame(schema=self.schema)))
        return out
