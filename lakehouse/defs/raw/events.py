"""Raw events: the clickstream's micro-batch files (JSON lines), each appended exactly once.

A batch file's id is its path in the landing zone, committed with the rows by a Delta app
transaction, so a retried or repeated run never appends it twice. Only final names are read
(`batch-NNNN.jsonl`: the collector writes `*.tmp` and renames), so a file still being written is
never taken half. A line that is not a JSON object keeps its text in `_rescued_data`.

Each row also carries `_high_water_mark`: the newest event time of the batches that arrived
before its own (in batch order), so refined can judge lateness the same way whatever runs the
batches came in, and a replayed record is judged as it was.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.defs.raw.ingestion import (
    RAW,
    module_version,
    permanent_errors_fail_at_once,
    reported_problems,
    with_ingestion_columns,
)
from lakehouse.lib.cleansing import utc_from_zulu
from lakehouse.lib.columns import HIGH_WATER_MARK, now_utc
from lakehouse.lib.data_version import data_version_after
from lakehouse.lib.pools import table_pool
from lakehouse.lib.privacy import Pseudonymiser, reported_suppression, suppress
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.reads import TableReads
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.suppression import suppressed_tokens
from lakehouse.sources.landing import (
    FILE_COLUMN,
    LINE_COLUMN,
    RESCUED_COLUMN,
    LandingZone,
    ParsedFile,
    read_json_lines,
)

EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "event_at",
    "customer_id",
    "anonymous_id",
    "channel",
    "page",
    "product_id",
    "quantity",
    "order_id",
)
EVENTS_FOLDER = "clickstream"
BATCH_PATTERN = "*/batch-*.jsonl"  # final names only: never a `.tmp` still being written
FILES_PER_PARSE = 100  # about 90k lines at scale 1
HIGH_WATER_COLUMN = HIGH_WATER_MARK
RAW_EVENTS = dg.AssetKey(["raw", "events"])
_UTC = pl.Datetime("us", "UTC")


def batch_id(path: Path) -> str:
    return f"landing/{EVENTS_FOLDER}/{path.parent.name}/{path.name}"


def pending_batches(landing: LandingZone, store: TableReads) -> list[Path]:
    """Micro-batch files not yet committed to raw, in arrival (name) order."""
    files = landing.list_files(EVENTS_FOLDER, BATCH_PATTERN)
    done = store.committed_batches(RAW_EVENTS, [batch_id(f) for f in files])
    return [f for f in files if batch_id(f) not in done]


def read_batches(files: list[Path]) -> ParsedFile:
    """Every line of the batch files with its `_source` and `_batch_id` (its file), at once."""
    parsed = list(parsed_chunks(files))
    return ParsedFile(
        pl.concat([p.rows for p in parsed]),
        sum(p.malformed_lines for p in parsed),
        [problem for p in parsed for problem in p.problems],
    )


def parsed_chunks(files: list[Path]) -> Iterator[ParsedFile]:
    """The lines of the batch files, `FILES_PER_PARSE` files at a time (parsing holds a chunk's
    bytes several times over; measured at scale 1, 3.9M lines: 3.6 GB peak parsed at once, 1.2 GB
    by 100 files, all chunks held; a chunk at a time, as the asset writes them, far less)."""
    for start in range(0, max(len(files), 1), FILES_PER_PARSE):
        yield _read_chunk(files[start : start + FILES_PER_PARSE])


def _read_chunk(files: list[Path]) -> ParsedFile:
    parsed = read_json_lines(files, EVENT_COLUMNS)
    index = parsed.rows.get_column(FILE_COLUMN)
    rows = parsed.rows.drop(FILE_COLUMN).with_columns(
        pl.Series("_source", [str(f) for f in files], dtype=pl.String).gather(index),
        pl.Series("_batch_id", [batch_id(f) for f in files], dtype=pl.String).gather(index),
    )
    return ParsedFile(rows, parsed.malformed_lines, parsed.problems)


def newest_event(store: TableReads) -> datetime | None:
    """The newest event time in raw (None when empty), reading only the last batch appended.

    A row's `_high_water_mark` is the newest event time of every batch before its own, so the
    newest of all is the last batch's mark or its own newest event. The last batch is the highest
    `_batch_id` (a run appends its batches in name order) among the rows of the last run, the
    newest `_ingested_at`, whose files the log's statistics point to: no parsing of millions of
    event times. Found in two passes: the last run's highest batch id (a streaming maximum: after
    a full build the last run is every row, and a filter by the maximum of its own column held
    them all, 2.9 GB at scale 10), then that batch's rows, which the files' statistics point to.
    """
    raw = store.pin(RAW_EVENTS)
    if not raw.exists:
        return None
    last_run = raw.newest("_ingested_at")
    rows = raw.scan().filter(pl.col("_ingested_at") == last_run)
    last_batch = rows.select(pl.col("_batch_id").max()).collect(engine="streaming").item()
    newest = pl.max_horizontal(pl.col(HIGH_WATER_COLUMN).max(), utc_from_zulu("event_at").max())
    return rows.filter(pl.col("_batch_id") == last_batch).select(newest).collect().item()


def with_high_water_mark_and_newest(
    rows: pl.DataFrame, newest_before: object | None
) -> tuple[pl.DataFrame, object | None]:
    """`_high_water_mark` of each row: the newest event time of the earlier batches; and the newest
    event time of these rows and those before (each event time parsed once: parsing them again
    for the newest cost a second of CPU at scale 1).

    Rows come in batch order, each batch's rows together, so a batch is a run of equal
    `_batch_id`s: numbered by `rle_id`, its mark is gathered by that number. (Grouping or joining
    by the id text held 700 MB more for 3.9M rows; this only adds the new column.) A batch none of
    whose times parse has no newest of its own: `cum_max` leaves it null, so the running newest is
    carried over it (forward fill), or the next batch would be judged against `newest_before` only.
    """
    batches = rows.select(pl.col("_batch_id").rle_id().alias("batch"), utc_from_zulu("event_at").alias("at"))
    newest = batches.group_by("batch", maintain_order=True).agg(pl.col("at").max())
    before = pl.lit(newest_before, _UTC)
    running = pl.col("at").cum_max().forward_fill()
    marks = newest.select(pl.max_horizontal(running.shift(1), before))
    latest = newest.select(pl.max_horizontal(pl.col("at").max(), before)).item()
    mark = marks.to_series().gather(batches.get_column("batch")).alias(HIGH_WATER_COLUMN)
    return rows.with_columns(mark), latest


@dataclass
class EventStream:
    """The new micro-batches' rows, a chunk of files at a time, and what reading them found."""

    files: list[Path]
    run_id: str
    newest_before: object | None  # the newest event time of the batches before (None: the first)
    erased: set[str]  # the suppression list's tokens
    pseudonymiser_key: str
    malformed_lines: int = 0
    problems: list[str] = field(default_factory=list)
    suppressed: int = 0

    def rows(self) -> RowBatches:
        empty, _ = self._ready(pl.DataFrame(schema=_PARSED_SCHEMA), now_utc())
        return RowBatches(empty.schema, self._batches(), [batch_id(f) for f in self.files])

    def _batches(self) -> Iterator[pl.DataFrame]:
        ingested_at = now_utc()
        for parsed in parsed_chunks(self.files):
            self.malformed_lines += parsed.malformed_lines
            self.problems += parsed.problems
            events, suppressed = suppress(parsed.rows, self.erased, self.pseudonymiser_key, drop=False)
            self.suppressed += suppressed
            rows, self.newest_before = self._ready(events, ingested_at)
            yield rows

    def _ready(self, events: pl.DataFrame, ingested_at: datetime) -> tuple[pl.DataFrame, object | None]:
        """A chunk's rows with their ingestion columns and marks (from the batches before it), and
        the newest event time of them and the batches before."""
        rows = with_ingestion_columns(
            events, source="", batch_id="", run_id=self.run_id, ingested_at=ingested_at
        ).with_columns(events.select("_source", "_batch_id"))  # the line's file, not one batch
        return with_high_water_mark_and_newest(rows, self.newest_before)


_PARSED_SCHEMA = dict.fromkeys(EVENT_COLUMNS, pl.String) | {
    RESCUED_COLUMN: pl.String,
    LINE_COLUMN: pl.Int64,
    "_source": pl.String,
    "_batch_id": pl.String,
}


@dg.asset(
    key=RAW_EVENTS,
    **RAW,
    pool=table_pool(RAW_EVENTS),
    code_version=module_version(__name__),
    kinds={"delta", "polars", "json"},
    description="Clickstream micro-batches (JSON lines) as they arrived; bad lines kept in `_rescued_data`.",
    metadata={**write_spec.append(), "source": f"landing/{EVENTS_FOLDER}/{BATCH_PATTERN}"},
)
def raw_events(
    context: dg.AssetExecutionContext, landing: LandingZone, store: DeltaStore, pseudonymiser: Pseudonymiser
) -> dg.Output[RowBatches]:
    reads = store.reading(context)
    with permanent_errors_fail_at_once():
        files = pending_batches(landing, reads)
    stream = EventStream(
        files, context.run.run_id, newest_event(reads), suppressed_tokens(store.root), pseudonymiser.key
    )

    def report() -> dict[str, object]:
        """What reading the batches found, once they are written."""
        context.log.info(f"{len(files)} new micro-batches, {stream.malformed_lines} malformed lines")
        return {
            "malformed_lines": stream.malformed_lines,
            "problems": reported_problems(context, stream.problems),
            **reported_suppression(context.log, stream.suppressed),
        }

    # written a chunk of files at a time: memory follows a chunk, not the clickstream's backlog
    wrote = any(f.stat().st_size for f in files)  # every line of a batch file lands, parsed or rescued
    return dg.Output(
        replace(stream.rows(), report=report),
        data_version=data_version_after(context, RAW_EVENTS, wrote_rows=wrote),
        metadata={"batches_ingested": len(files)},
    )
