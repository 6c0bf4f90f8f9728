"""A refine step's rows held on disk, not in memory, until they are written in one commit.

A full build refines millions of raw rows. The step transforms them a window at a time (memory
follows the window), but a business key's newest version may be in any window, and nothing may be
committed before every window is through (a crash half-way must leave the tables as they were).
So each window's valid rows are spilled to one Parquet file sorted by key, in small row groups.
Once all windows are through, the files are read back a key range at a time (bounds from a sample
of every window's keys, ranges of the whole key: of its first column alone, a table keyed
(country, id) reduced a country at a time, most of the table at once): each file's row groups
outside the range are skipped by their statistics, so every row is read about once, and all
versions of a key come back together.
Each range is reduced to the newest row per key, sorted by key and spilled again, to be handed to
the IO manager one at a time (`RowBatches`), so a new table's files hold disjoint key ranges:
handed on in hash buckets, every file spanned every key, and the first day merged after a full
build rewrote nearly the whole table to update its few keys (refined/events: 1.2M rows copied to
merge 10k). The rejected records are spilled the same way, unsorted.

(Spilled by a hash of the key first, then split again by key range, the rows were split and
written twice, in windows x ranges files: staging refined/events' 3.8M rows at scale 1 took 9.5 s
of CPU that way, about 6.6 s sorted, measured on a loaded machine.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lakehouse.lib.key_buckets import in_range, range_bounds
from lakehouse.lib.storage.spill import SpilledFrames

# Keys kept of each window to set the key ranges by: a range is then found to well within a
# percent of its rows.
SAMPLE_PER_WINDOW = 1024
# Rows of a spilled window's row groups: a range read skips the others by their statistics, so a
# window's rows are read about once whatever the ranges (a row group across a bound: twice).
SPILL_ROW_GROUP = 20_000


@dataclass
class KeyRanges:
    """Windows of rows spilled sorted by `keys`, reduced and handed on in about `ranges` ranges of
    the key, in key order."""

    folder: Path
    keys: tuple[str, ...]
    ranges: int
    windows: int = 0  # added, valid rows or none (a window without any spills no file)
    sample: list[pl.DataFrame] = field(default_factory=list)  # of each window's keys
    spilled: SpilledFrames = field(init=False)  # a file a window, in arrival order

    def __post_init__(self) -> None:
        self.spilled = SpilledFrames(self.folder, row_group_size=SPILL_ROW_GROUP)

    def add(self, rows: pl.DataFrame) -> None:
        """Spill one window's rows sorted by key (a key's rows keep their order: windows and rows
        in arrival order)."""
        self.windows += 1
        self.spilled.add(rows.sort(list(self.keys), maintain_order=True))
        every = max(1, rows.height // SAMPLE_PER_WINDOW)
        self.sample.append(rows.select(self.keys).gather_every(every))

    def reduced(self, reduce: Callable[[pl.DataFrame], pl.DataFrame], into: Path) -> SpilledFrames:
        """Each range's rows (of every window, in window order) reduced and sorted by key, spilled
        to `into` a file a range, to be read back a range at a time."""
        sample = pl.concat(self.sample) if self.sample else pl.DataFrame(schema=dict.fromkeys(self.keys))
        bounds = range_bounds(sample, self.ranges)
        out = SpilledFrames(into)
        if self.spilled.files:
            spilled = self.spilled.scan()
            for number in range(bounds.height + 1):
                rows = spilled.filter(in_range(self.keys, bounds, number)).collect()
                out.add(reduce(rows).sort(list(self.keys)))
        if out.schema is None and self.spilled.schema is not None:  # no rows at all: the schema still
            out.add(reduce(pl.DataFrame(schema=self.spilled.schema)))
        return out
