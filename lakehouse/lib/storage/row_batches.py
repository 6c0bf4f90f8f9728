"""An asset output too large to hold at once: rows produced a batch at a time, written as they come.

An asset returns `RowBatches` instead of a frame when its rows follow the size of a source (a
landing file of any size): the IO manager hands the batches to delta-rs one at a time, in one
commit, so the step's memory follows the batch size, not the source's. Nothing is committed until
the last batch is written: a crash half-way leaves the table as it was (the files already written
are not in the log; `vacuum` removes them), and the retried step writes every batch again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

_DONE = object()


@dataclass
class Tally:
    """What was written of the batches, counted as they passed: rows and nulls per column (the
    quality metrics' null rates, with no second read of the rows)."""

    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)

    def add(self, frame: pl.DataFrame) -> None:
        self.rows += frame.height
        for name, count in frame.null_count().row(0, named=True).items():
            self.nulls[name] = self.nulls.get(name, 0) + count


@dataclass(frozen=True)
class RowBatches:
    """Rows of `schema`, a batch at a time; `source_batches` the source batch ids among them (the
    batch column's values, each committed by an app transaction); `report` the output metadata
    that is only known once every batch was read (lines rescued, files loaded)."""

    schema: pl.Schema
    batches: Iterable[pl.DataFrame]
    source_batches: list[str]
    report: Callable[[], Mapping[str, Any]] = field(default=dict)
    written: Tally = field(default_factory=Tally)  # filled in as the batches are written
    # The same rows again, lazily, where they can be read again (a merge's: staged files), for
    # what follows the commit; None: an append's, read back from the table by their batch ids.
    rows: pl.LazyFrame | None = None

    def collect(self) -> pl.DataFrame:
        """Every batch as one frame, tallied as written (for a write that needs all rows at once)."""
        frames = list(self.conformed())
        for frame in frames:
            self.written.add(frame)
        return pl.concat(frames) if frames else pl.DataFrame(schema=self.schema)

    def conformed(self) -> Iterator[pl.DataFrame]:
        """Each batch with the schema's columns, in its order and types (a column a batch lacks,
        say one that only later files have, as nulls)."""
        for batch in self.batches:
            yield batch.select(
                pl.col(name).cast(dtype) if name in batch.columns else pl.lit(None, dtype).alias(name)
                for name, dtype in self.schema.items()
            )


@dataclass(frozen=True)
class Reread:
    """Batches that are produced again on every pass: a write retried after losing a commit race
    streams them a second time."""

    frames: Callable[[], Iterator[pl.DataFrame]]

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return self.frames()


def read_ahead(items: Iterator[Any], depth: int = 1) -> Iterator[Any]:
    """The items, the next `depth` produced in a thread while the current one is consumed.

    Reading and parsing a batch (Polars, no GIL held) then overlaps with delta-rs encoding the
    previous one: on two cores, the step takes about the longer of the two instead of their sum,
    for `depth` more batches in memory. An error in the producer is raised in the consumer; a
    consumer that stops early stops the producer.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        """Queue the item unless the consumer stopped; whether it did not."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            offer(error)

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join()
