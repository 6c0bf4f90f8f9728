"""Reading and writing Delta tables: the four write modes, commit metadata, conflict retries.

Pure functions over a table URI and a Polars frame; no Dagster here (the IO manager adds that).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from lakehouse.lib.storage import parquet_append, scd2
from lakehouse.lib.storage.layout import TARGET_FILE_SIZE_PROPERTY, compact_touched, touched_partitions
from lakehouse.lib.storage.row_batches import RowBatches, Tally, read_ahead
from lakehouse.lib.storage.snapshots import held, one_read, open_table
from lakehouse.lib.storage.write_spec import BATCH_COLUMN, WRITE_SPEC_KEY, WriteMode, WriteSpec

# Concurrent writers to one table (two runs merging at once) lose the optimistic commit race now
# and then; delta-rs retries appends itself, merges we retry from the start with backoff.
MERGE_ATTEMPTS = 5
# A slice replace that lost the race to a writer of other slices is committed again, at most this often.
SLICE_ATTEMPTS = 5
# Commit metadata naming the slices an `overwrite_partition` commit replaced (a JSON list of text).
REPLACED_SLICES_COMMIT_KEY = "lakehouse.replaced_slices"
# Operations that change no row: one committed meanwhile never invalidates a slice replace.
VACUUM_OPERATIONS = frozenset({"VACUUM START", "VACUUM END"})
ROW_NEUTRAL_OPERATIONS = frozenset({"OPTIMIZE", "SET TBLPROPERTIES", *VACUUM_OPERATIONS})
# Commit metadata naming the write mode, and holding the write spec, the commit was made by.
WRITE_MODE_COMMIT_KEY, WRITE_SPEC_COMMIT_KEY = "lakehouse.write_mode", "lakehouse.write_spec"
CODE_VERSION_COMMIT_KEY = "dagster.code_version"  # the IO manager records it in every commit
# Commit metadata: the versions of the tables the write read (JSON: {"refined/orders": 3, …}).
INPUT_VERSIONS_COMMIT_KEY = "dagster.input_versions"
# The table property naming the columns whose statistics (min, max, nulls) the log keeps: every
# column but the direct PII ones, whose values would otherwise sit in clear in `add.stats`.
STATS_COLUMNS = "delta.dataSkippingStatsColumns"


class SliceConflictError(RuntimeError):
    """Another writer replaced some of the slices a write replaces after the write's step read the
    table: the step must compute them again from the newer version (the IO manager retries it)."""


@dataclass(frozen=True)
class WriteResult:
    version: int | None
    rows_written: int
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    skipped_batches: list[str] = field(default_factory=list)


# The bookkeeping logs (the audit log, the quality metrics) take a commit per asset and run, and
# every append first replays the log since its last checkpoint: on object storage one request per
# commit file. A checkpoint every 10 commits (delta-rs' default is 100) keeps that short.
LOG_CHECKPOINT_INTERVAL = 10


class OpenLogs:
    """The bookkeeping logs one writer appends to, each opened once: for one run (`QualityRecorder`).

    Opening a log replays it from its last checkpoint (~4 ms of CPU, most of an append's 10 ms; a
    table without a checkpoint opens in ~1 ms). Kept open, a log is brought up to date before each
    append by reading only the commits made since (`update_incremental`, ~0.4 ms), other runs'
    included. Never kept across runs: a backup restored in place (between runs only: it waits for
    none to be in progress) takes a log back to an older version, which a table kept open would not
    see, and its next commit would leave a gap in the log.
    """

    def __init__(self) -> None:
        self._tables: dict[str, DeltaTable] = {}

    def newest(self, uri: str) -> DeltaTable | None:
        """The log at its newest version, to write through; None when there is no log yet."""
        table = self._tables.get(uri)
        if table is None:
            if (table := _to_write(uri)) is not None:
                self._tables[uri] = table
            return table
        table.update_incremental()
        return table


def append_to_log(uri: str, rows: pl.DataFrame, logs: OpenLogs | None = None) -> None:
    """Append rows to a bookkeeping log (through `logs` when the writer keeps it open), creating it
    with its short checkpoint interval.

    Every `LOG_CHECKPOINT_INTERVAL` commits its small files are compacted (`compact_touched`): the
    logs are read whole (each anomaly check reads its table's metric history, reports read the
    audit log), and a file per commit had every read open every file ever appended (a 20-day build
    on the object store: 480 requests for the metrics' 42 data files).
    """
    table = _to_write(uri) if logs is None else logs.newest(uri)
    if table is None:
        write_deltalake(
            uri, rows, mode="append", configuration={"delta.checkpointInterval": str(LOG_CHECKPOINT_INTERVAL)}
        )
        return
    write_deltalake(table, rows, mode="append")
    if table.version() % LOG_CHECKPOINT_INTERVAL == 0:
        compact_touched(uri, {}, {})


def as_stream(data: pl.DataFrame, rows_per_batch: int = 250_000) -> pa.RecordBatchReader:
    """The frame as Arrow batches converted one slice at a time.

    Handing delta-rs the whole frame makes it convert and hold all of it at once (measured: a
    3M-row fact peaked 1 GB higher, and wrote 2x slower). Text goes as Polars holds it
    (`string_view`, no copy): delta-rs keeps the batches it was given until the commit, and
    converted to `large_string` they were a second copy of the table (3.9M raw events: 950 MB
    more at the peak, against 90 MB). Readers are unaffected: Polars and DuckDB read both.
    """
    return pa.RecordBatchReader.from_batches(arrow_schema(data.schema), arrow_batches(data, rows_per_batch))


def arrow_schema(schema: pl.Schema) -> pa.Schema:
    """The Arrow schema of frames of `schema`, text as `string_view` (see `as_stream`)."""
    return pl.DataFrame(schema=schema).to_arrow(compat_level=pl.CompatLevel.newest()).schema


def arrow_batches(data: pl.DataFrame, rows_per_batch: int = 250_000) -> Iterator[pa.RecordBatch]:
    """The frame as Arrow record batches, converted one slice at a time."""
    views = pl.CompatLevel.newest()
    for start in range(0, data.height, rows_per_batch):
        yield from data.slice(start, rows_per_batch).to_arrow(compat_level=views).to_batches()


def exists(uri: str) -> bool:
    return DeltaTable.is_deltatable(uri)


def opened(uri: str, at_version: int | None = None) -> DeltaTable | None:
    """The table (at a version) from one read of its log (none within a step that kept it:
    `snapshots`); None when there is no table at `uri`.

    One read, not `exists` and then a load: on an object store each is a listing and more requests.
    """
    try:
        return open_table(uri, at_version)
    except TableNotFoundError:
        return None


def _to_write(uri: str) -> DeltaTable | None:
    """The newest table, opened afresh to write through (a write updates it): never a snapshot a
    step kept for its reads (`snapshots`), which the write would move on."""
    try:
        return DeltaTable(uri)
    except TableNotFoundError:
        return None


def version(uri: str) -> int | None:
    table = opened(uri)
    return None if table is None else table.version()


@dataclass(frozen=True)
class TableState:
    """What a check needs of a table's newest version, from one read of its log."""

    version: int
    table_id: str  # drawn when the table was created: a table deleted and made again gets a new one
    partition_columns: list[str]
    content: str  # see `content`
    file_uris: list[str]


def state(uri: str) -> TableState | None:
    """The table's newest version as a check sees it; None when there is no table at `uri`."""
    table = opened(uri)
    if table is None:
        return None
    metadata = table.metadata()
    return TableState(
        table.version(), metadata.id, metadata.partition_columns, _digest(table), table.file_uris()
    )


def scan(uri: str, at_version: int | None = None) -> pl.LazyFrame:
    """Lazy scan with predicate and projection pushdown (never pyarrow datasets: string_view), of
    the snapshot a step kept when it has that version (`snapshots`): its log is not read again."""
    table = held(uri, at_version)
    return pl.scan_delta(uri, version=at_version) if table is None else pl.scan_delta(table)


def scan_newest(uri: str) -> pl.LazyFrame | None:
    """A lazy scan of the table's newest version, from one read of its log; None without a table."""
    with one_read():
        table = opened(uri)
        return None if table is None else scan(uri, table.version())


def newest(uri: str, column: str, at_version: int | None = None) -> object | None:
    """The largest value of `column` (None without rows), reading only the files that may hold it.

    The log's statistics keep a file's maximum, but timestamps only to the millisecond (truncated):
    the largest statistic is a floor of the true maximum, so only the files reaching it are read,
    and the maximum is then exact. Text statistics are truncated prefixes: not used.
    """
    table = scan(uri, at_version)
    stat = f"max.{column}"
    actions = add_actions(uri, at_version)
    largest = table.select(pl.col(column).max())
    if stat in actions.columns and (actions.schema[stat].is_temporal() or actions.schema[stat].is_numeric()):
        floor = actions.get_column(stat).max()
        if floor is not None:  # the filter is exact on rows; the statistics only spare files
            found = table.filter(pl.col(column) >= floor).select(pl.col(column).max()).collect().item()
            if found is not None:
                return found
            # a statistic above every live row (rows deleted since, a writer rounding up): read all
    return largest.collect().item()


# Commits read at a time when looking back through a log (usually the newest one is the answer).
HISTORY_PAGE = 8


def commits_newest_first(table: str | DeltaTable) -> Iterator[dict[str, Any]]:
    """The table's commits (their commit info), newest first, read a page at a time."""
    table, limit, seen = DeltaTable(table) if isinstance(table, str) else table, HISTORY_PAGE, 0
    while True:
        commits = table.history(limit)
        yield from commits[seen:]
        if len(commits) < limit:
            return
        seen, limit = len(commits), limit * 8


def input_versions(commit: Mapping[str, Any]) -> dict[str, int]:
    """The versions of the tables a commit's write read, from its metadata ({}: none recorded)."""
    return json.loads(commit.get(INPUT_VERSIONS_COMMIT_KEY) or "{}")


def version_read(uri: str, table: str) -> int | None:
    """The version of `table` (`curated/fact_order_items`) that the newest commit of the table at
    `uri` recording its inputs read (None: none recorded it)."""
    for commit in commits_newest_first(uri):
        if versions := input_versions(commit):
            return versions.get(table)
    return None


def newest_code_version(uri: str) -> str:
    """The code version the table's newest commit that records one was made by ("" if none)."""
    commits = commits_newest_first(uri)
    return next((c[CODE_VERSION_COMMIT_KEY] for c in commits if c.get(CODE_VERSION_COMMIT_KEY)), "")


def undo_every_batch(uri: str, spec: WriteSpec) -> list[Transaction]:
    """App transactions marking every batch an append table holds undone: with them, a commit
    emptying the table lets the same batches be appended again."""
    if spec.mode is not WriteMode.APPEND:
        return []
    return [Transaction(batch, BATCH_UNDONE) for batch in sorted(_batches(uri, spec.batch_column))]


def version_for_run(uri: str, run_id: str, started_ms: int) -> int | None:
    """The version a run reads: the newest it committed itself, else the newest committed before it
    started (None: the table did not exist for the run).

    A pure function of the table's log and the run, so a version pinned when a run reads the table
    can be found again when the run commits what it computed from it. Commits by others after the
    run started are not seen: every read of a run is of one snapshot, plus the run's own writes.
    """
    table = opened(uri)
    if table is None:
        return None
    for commit in commits_newest_first(table):
        if commit.get("dagster.run_id") == run_id or commit["timestamp"] <= started_ms:
            return commit["version"]
    return None


def _loaded(uri: str, at_version: int | None) -> DeltaTable | None:
    """The table at a version; None when that version can no longer be loaded (its log is gone)."""
    try:
        return open_table(uri, at_version)
    except Exception:  # delta-rs raises several types for a version whose log is gone
        return None


def _digest(table: DeltaTable) -> str:
    paths = pl.DataFrame(table.get_add_actions(flatten=True)).get_column("path", default=pl.Series([]))
    return hashlib.sha256("\n".join(sorted(paths.to_list())).encode()).hexdigest()[:32]


def content(uri: str, at_version: int | None = None) -> str | None:
    """What identifies the rows of a version, where its number does not: a digest of its data files'
    paths within the table (Delta never writes two files of one name). A backup restored in place
    brings older version numbers back under the same table id, and the commits after it make those
    numbers again with other files. Relative paths: a copy of the table elsewhere has the same
    content. None when the version can no longer be loaded."""
    table = _loaded(uri, at_version)
    return None if table is None else _digest(table)


def files_added_since(
    uri: str, since: int, now: TableState, since_content: str | None = None
) -> list[str] | None:
    """Data files of the table as it is `now` that version `since` did not have (absolute URIs).

    Delta files are immutable, so every row of `now` outside these files was in `since`; the files
    of `since` are read from the log. None when `since` is not older, can no longer be loaded (its
    log was cleaned up), or no longer holds `since_content` (`content`: a backup was restored and
    that version number made again). No `since_content`: the caller has just checked that.
    """
    before = None if since > now.version else _loaded(uri, since)
    if before is None or since_content not in (None, _digest(before)):
        return None
    held = set(before.file_uris())
    return [f for f in now.file_uris if f not in held]


def operations_since(uri: str, since: int) -> set[str]:
    """The operations of the commits after version `since`: `WRITE Append`, `WRITE Overwrite`,
    `MERGE`, `DELETE`, `UPDATE`, `RESTORE`, …"""
    current = open_table(uri)
    commits = current.version() - since
    history = current.history(commits) if commits > 0 else []
    modes = (c.get("operationParameters", {}).get("mode", "") for c in history)
    return {f"{c['operation']} {mode}".strip() for c, mode in zip(history, modes, strict=True)}


# App transaction versions: a batch is committed (1), or was committed and then rolled back by a
# restore (0), so that appending it again writes it again.
BATCH_COMMITTED, BATCH_UNDONE = 1, 0
# delta-rs looks app transactions up one id at a time, each lookup walking the table's transactions:
# past this many ids, the ids whose rows the table holds are first found in one column scan.
TRANSACTION_LOOKUPS = 32


def committed_batches(
    uri: str, batch_ids: list[str], batch_column: str = BATCH_COLUMN, at_version: int | None = None
) -> set[str]:
    """The batch ids already committed to the table (at a version) by an app transaction, not undone.

    A batch whose rows the table holds is committed (its rows came with its transaction, and a
    restore that undoes one removes the other); only the rest, a batch that brought no row, needs
    its transaction looked up.
    """
    table = opened(uri, at_version)
    return set() if table is None else _committed_in(table, batch_ids, batch_column)


def _committed_in(table: DeltaTable, batch_ids: list[str], batch_column: str) -> set[str]:
    """`committed_batches` of an opened table (its snapshot)."""
    many = len(batch_ids) > TRANSACTION_LOOKUPS
    held = _batches(table, batch_column) & set(batch_ids) if many else set()
    return held | {b for b in batch_ids if b not in held and table.transaction_version(b) == BATCH_COMMITTED}


def undone_batches(uri: str, batch_ids: list[str], at_version: int | None = None) -> set[str]:
    """The batch ids once committed to the table and then undone (a restore, a released file)."""
    table = opened(uri, at_version)
    if table is None:
        return set()
    return {b for b in batch_ids if table.transaction_version(b) == BATCH_UNDONE}


def restore(uri: str, version: int, spec: WriteSpec, commit_metadata: Mapping[str, Any]) -> None:
    """Roll the table back to `version`, as a commit carrying `commit_metadata` like every write.

    An append table (by its write spec) also gets the app transactions of the batches the restore
    removes undone: otherwise a batch appended after `version` would stay marked as committed though
    its rows are gone, and a re-run would skip it: the data would be lost.
    """
    undone = []
    if spec.mode is WriteMode.APPEND:
        removed = _batches(uri, spec.batch_column) - _batches(uri, spec.batch_column, version)
        undone = [Transaction(batch, BATCH_UNDONE) for batch in sorted(removed)]
    custom = custom_metadata(commit_metadata, spec)
    properties = CommitProperties(custom_metadata=custom, app_transactions=undone or None)
    DeltaTable(uri).restore(version, commit_properties=properties)


def spec_of(table: str | DeltaTable) -> WriteSpec:
    """The write spec the table's (a URI's, or an opened table's) newest write recorded.

    A table last written before commits recorded their spec has only its mode recorded: that is
    all a restore needs of an append table; any other table is then restored as overwritten.
    """
    for commit in commits_newest_first(table):
        if WRITE_SPEC_COMMIT_KEY in commit:
            return WriteSpec.from_metadata({WRITE_SPEC_KEY: json.loads(commit[WRITE_SPEC_COMMIT_KEY])})
        if commit.get(WRITE_MODE_COMMIT_KEY) == WriteMode.APPEND.value:
            return WriteSpec(WriteMode.APPEND)
    return WriteSpec(WriteMode.OVERWRITE)


def _batches(source: str | DeltaTable, batch_column: str, at_version: int | None = None) -> set[str]:
    """The batch ids the table (a URI's, at a version; or an opened table's snapshot) holds rows of."""
    table = pl.scan_delta(source) if isinstance(source, DeltaTable) else scan(source, at_version)
    if batch_column not in table.collect_schema():
        return set()
    return set(table.select(pl.col(batch_column).unique()).collect().get_column(batch_column).to_list())


def write(
    uri: str,
    data: pl.DataFrame,
    spec: WriteSpec,
    commit_metadata: Mapping[str, Any],
    slices: list[Any] | None = None,
    read_version: int | None = None,
) -> WriteResult:
    """Write `data` by the spec's mode; every commit carries `commit_metadata`.

    `slices`, for `overwrite_partition`: the partition values to replace (default: those present in
    `data`). Naming them lets a slice that lost all its rows be emptied. `read_version`: the version
    the data was computed from (default: the newest); a slice replace is checked against the commits
    made since (`SliceConflictError`).
    """
    custom = custom_metadata(commit_metadata, spec)
    keep_configuration_current(uri, data.columns, spec)
    if spec.mode is WriteMode.OVERWRITE_PARTITION:
        result = _overwrite_partition(uri, data, spec, custom, slices, read_version)
    else:
        writers = {
            WriteMode.APPEND: _append,
            WriteMode.OVERWRITE: _overwrite,
            WriteMode.MERGE: _merge,
            WriteMode.SCD2: _scd2,
        }
        result = writers[spec.mode](uri, data, spec, custom)
    if spec.mode in SLICE_WRITES and result.rows_written:
        return _compacted(uri, result, touched_partitions(data, spec.partition_by), custom)
    return result


# The writes that add files beside the table's others (not a merge's rewrite or a whole overwrite):
# small files pile up under them, a day at a time.
SLICE_WRITES = frozenset({WriteMode.APPEND, WriteMode.OVERWRITE_PARTITION})


def _compacted(
    uri: str, result: WriteResult, partitions: dict[str, list[Any]], custom: dict[str, str]
) -> WriteResult:
    """The write's result, at the compaction's version when the partitions it touched were compacted."""
    if compact_touched(uri, partitions, custom):
        return dataclasses.replace(result, version=version(uri))
    return result


# Write modes whose writes are MERGEs: the others give each write its file size themselves.
MERGED = frozenset({WriteMode.MERGE, WriteMode.SCD2})


def table_configuration(columns: list[str], spec: WriteSpec) -> dict[str, str]:
    """A new table's configuration: the target file size, which a MERGE honours only from here (so
    a day's merge rewrites the few bounded files holding its keys, not one file grown by every day
    merged before), and the statistics columns keeping the spec's direct PII out of the log."""
    configuration = {TARGET_FILE_SIZE_PROPERTY: str(spec.target_file_size)}
    if spec.direct_pii:
        configuration[STATS_COLUMNS] = _stats_columns(columns, spec)
    return configuration


def _stats_columns(columns: list[str], spec: WriteSpec) -> str:
    return ",".join(c for c in columns if c not in spec.direct_pii)


def keep_configuration_current(uri: str, columns: list[str], spec: WriteSpec) -> None:
    """Set what an existing table's configuration lacks of a new table's (`table_configuration`),
    before a write: the statistics columns of a table with direct PII (made before they were
    declared, or a column added since), and the target file size of a merged table made before
    tables carried it. A table neither merged nor holding direct PII is not opened: its writes give
    their file size themselves.

    The change is committed with the write spec, as every commit is (the catalog masks direct PII
    by the newest commit carrying one).
    """
    if not (spec.direct_pii or spec.mode in MERGED) or (table := _to_write(uri)) is None:
        return
    stored = table.schema().to_arrow().names
    wanted = table_configuration([*stored, *(c for c in columns if c not in stored)], spec)
    configuration = table.metadata().configuration
    changed = {key: value for key, value in wanted.items() if configuration.get(key) != value}
    if changed:
        properties = CommitProperties(custom_metadata=custom_metadata({}, spec))
        table.alter.set_table_properties(changed, commit_properties=properties)


def as_commit_metadata(provenance: Mapping[str, Any]) -> dict[str, str]:
    """Provenance as Delta custom commit metadata: text values, the others as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in provenance.items()}


def custom_metadata(commit_metadata: Mapping[str, Any], spec: WriteSpec) -> dict[str, str]:
    """A commit's custom metadata: the caller's provenance, and the write spec it was made by."""
    custom = as_commit_metadata(commit_metadata)
    custom[WRITE_MODE_COMMIT_KEY] = spec.mode.value
    custom[WRITE_SPEC_COMMIT_KEY] = json.dumps(spec.as_metadata()[WRITE_SPEC_KEY])
    return custom


def _append(uri: str, data: pl.DataFrame, spec: WriteSpec, custom: dict[str, str]) -> WriteResult:
    if spec.batch_column not in data.columns:
        raise ValueError(f"append to {uri} needs a '{spec.batch_column}' column (the batch id)")
    batch_ids = data.get_column(spec.batch_column).unique().sort().to_list()
    table = _to_write(uri)  # one read of the log, for the batches committed, the write and its version
    done = set() if table is None else _committed_in(table, batch_ids, spec.batch_column)
    new_batches = [b for b in batch_ids if b not in done]
    rows = data.filter(pl.col(spec.batch_column).is_in(new_batches)) if done else data  # no copy
    if rows.is_empty() and table is not None:
        return WriteResult(table.version(), 0, skipped_batches=sorted(done))
    feed = _Feed(iter([rows]), spec.batch_column, set(), Tally())
    written_version = _appended(uri, table, feed, rows.schema, spec, custom, new_batches)
    written = rows.height
    return WriteResult(written_version, written, inserted=written, skipped_batches=sorted(done))


def _appended(
    uri: str,
    table: DeltaTable | None,
    feed: _Feed,
    schema: pl.Schema,
    spec: WriteSpec,
    custom: dict[str, str],
    new_batches: list[str],
) -> int | None:
    """Append the feed's rows in one commit with the app transactions of `new_batches`; the
    version made. Parquet written on every core (`parquet_append`) where that applies, else by
    delta-rs (a schema change, a partitioned or remote table). An error of the feed's source
    commits nothing and is raised as it was (delta-rs would wrap it in a `DeltaError` of its own)."""
    configuration = table_configuration(schema.names(), spec)  # a new table's
    properties = CommitProperties(
        custom_metadata=custom,
        app_transactions=[Transaction(batch, BATCH_COMMITTED) for batch in new_batches],
    )
    with feed.source_errors():
        if parquet_append.applies(uri, table, schema):
            frames, size = feed.frames(schema), spec.target_file_size
            return parquet_append.append(uri, table, frames, schema, size, configuration, properties)
        write_deltalake(
            uri if table is None else table,
            pa.RecordBatchReader.from_batches(arrow_schema(schema), feed.batches(schema)),
            mode="append",
            schema_mode="merge",
            configuration=configuration,  # ignored for an existing table
            target_file_size=spec.target_file_size,  # delta-rs holds a file's rows until it is written
            commit_properties=properties,
        )
    return _written_version(table, uri)


def _written_version(table: DeltaTable | None, uri: str) -> int | None:
    """The version a write made: the table it wrote through knows it (delta-rs updates it on
    commit); a table the write created is read once."""
    return version(uri) if table is None else table.version()


def append_batches(
    uri: str, rows: RowBatches, spec: WriteSpec, commit_metadata: Mapping[str, Any]
) -> WriteResult:
    """Append rows a batch at a time, in one commit with the app transactions of their source
    batches (those already committed are skipped, as by `append`); memory follows a batch.

    No commit when no row is left (unless the table does not exist yet: then it is made, empty).
    An error of the rows' source half-way commits nothing and is raised as it was (delta-rs would
    wrap it in a `DeltaError` of its own).
    """
    custom = custom_metadata(commit_metadata, spec)
    keep_configuration_current(uri, rows.schema.names(), spec)
    table = _to_write(uri)  # one read of the log, for the batches committed, the write and its version
    done = set() if table is None else _committed_in(table, rows.source_batches, spec.batch_column)
    feed = _Feed(read_ahead(rows.conformed()), spec.batch_column, done, rows.written)
    if not feed.has_rows() and table is not None:
        return WriteResult(table.version(), 0, skipped_batches=sorted(done))
    new_batches = [b for b in rows.source_batches if b not in done]
    written_version = _appended(uri, table, feed, rows.schema, spec, custom, new_batches)
    written = rows.written.rows
    skipped = sorted(done)
    result = WriteResult(written_version, written, inserted=written, skipped_batches=skipped)
    # the values written are not kept: a partitioned table's every partition is considered
    return _compacted(uri, result, {}, custom) if written else result


def merge_batches(
    uri: str, rows: RowBatches, spec: WriteSpec, commit_metadata: Mapping[str, Any]
) -> WriteResult:
    """Merge rows given a batch at a time, in one commit; the rows hold each key at most once.

    A new table is made from the batches as they come, so memory follows a batch (a full build's
    refined tables). Into an existing table, the rows are merged as one frame by `_merge`, whose
    key-range predicate spares the files outside the rows' keys: a merge holds the rows it brings,
    which after the first build are the new raw rows' (a day's), not the table's.
    """
    custom = custom_metadata(commit_metadata, spec)
    keep_configuration_current(uri, rows.schema.names(), spec)
    if exists(uri):
        return _merge(uri, rows.collect(), spec, custom)
    feed = _Feed(read_ahead(rows.conformed()), spec.batch_column, set(), rows.written)
    with feed.source_errors():
        write_deltalake(
            uri,
            pa.RecordBatchReader.from_batches(arrow_schema(rows.schema), feed.batches(rows.schema)),
            mode="append",
            configuration=table_configuration(rows.schema.names(), spec),
            target_file_size=spec.target_file_size,
            commit_properties=CommitProperties(custom_metadata=custom),
        )
    written = rows.written.rows
    return WriteResult(version(uri), written, inserted=written)


def replace_batches(
    uri: str,
    rows: RowBatches,
    spec: WriteSpec,
    commit_metadata: Mapping[str, Any],
    slices: list[Any] | None = None,
    read_version: int | None = None,
) -> WriteResult:
    """Replace slices (`overwrite_partition`) with rows given a batch at a time, in one commit:
    memory follows a batch (a full build's facts, built a few days at a time).

    A new table is made from the batches as they come. An existing table's named `slices` are
    replaced by streaming the batches, again on each attempt (`rows.batches` must be re-iterable),
    retried as `_overwrite_partition` does. (Into an existing table without named slices, which
    slices the rows replace only they tell: hold them, `rows.collect()`, and `write` them.)
    """
    if exists(uri) and slices is None:
        raise ValueError(f"{uri}: name the slices a stream of rows replaces in an existing table")
    column = spec.partition_column
    values = None if slices is None else _typed(pl.Series(column, slices), rows.schema[column]).sort()
    custom = custom_metadata(commit_metadata, spec)
    keep_configuration_current(uri, rows.schema.names(), spec)
    if not exists(uri):
        _stream_overwrite(uri, rows, spec, custom, values)
        return WriteResult(version(uri), rows.written.rows, inserted=rows.written.rows)
    if values.is_empty():
        return WriteResult(version(uri), 0)
    deleted = scan(uri).filter(pl.col(column).is_in(values.implode())).select(pl.len()).collect().item()
    custom = {**custom, REPLACED_SLICES_COMMIT_KEY: json.dumps([str(v) for v in values.to_list()])}
    table = DeltaTable(uri, version=read_version)
    for attempt in range(1, SLICE_ATTEMPTS + 1):
        try:
            _stream_overwrite(table, rows, spec, custom, values)
            break
        except CommitFailedError:
            table = _newest_if_slices_untouched(uri, table.version(), values, attempt)
    return WriteResult(table.version(), rows.written.rows, inserted=rows.written.rows, deleted=deleted)


def _stream_overwrite(
    target: str | DeltaTable,
    rows: RowBatches,
    spec: WriteSpec,
    custom: dict[str, str],
    values: pl.Series | None,
) -> None:
    """Overwrite a new table (`target` a URI), or an existing one's slices `values`, with the rows
    streamed; each batch checked to hold only rows of those slices. A source error is raised as it was."""
    column, uri = spec.partition_column, str(target if isinstance(target, str) else target.table_uri)
    rows.written.rows, rows.written.nulls = 0, {}  # counted again on a retry

    def within() -> Iterator[pl.DataFrame]:
        for frame in rows.conformed():
            if values is not None and (
                outside := frame.filter(~pl.col(column).is_in(values.implode())).height
            ):
                raise ValueError(f"{uri}: {outside} rows fall outside the slices being replaced")
            yield frame

    feed = _Feed(read_ahead(within()), "", set(), rows.written)
    new = isinstance(target, str)
    with feed.source_errors():
        write_deltalake(
            target,
            pa.RecordBatchReader.from_batches(arrow_schema(rows.schema), feed.batches(rows.schema)),
            mode="overwrite",
            schema_mode="overwrite" if new else None,
            predicate=None if new else replace_predicate(column, values),
            configuration=table_configuration(rows.schema.names(), spec) if new else None,
            partition_by=list(spec.partition_by) or None,
            target_file_size=spec.target_file_size,
            commit_properties=CommitProperties(custom_metadata=custom),
        )


class _Feed:
    """The frames an append hands to delta-rs as Arrow batches: rows of committed source batches
    left out, empty frames skipped, what is written tallied, and the source's error kept."""

    def __init__(
        self, frames: Iterator[pl.DataFrame], batch_column: str, done: set[str], tally: Tally
    ) -> None:
        self._frames = frames
        self._batch_column, self._done = batch_column, list(done)
        self._first: pl.DataFrame | None = None
        self._tally = tally
        self.error: BaseException | None = None

    def has_rows(self) -> bool:
        """Whether any row is left to write (reads up to the first frame with one)."""
        self._first = next(self._new_rows(), None)
        return self._first is not None

    def frames(self, schema: pl.Schema) -> Iterator[pl.DataFrame]:
        """The rows left to write, tallied (an empty frame first when there are none)."""
        first = self._first if self._first is not None else pl.DataFrame(schema=schema)
        try:
            for frame in itertools.chain([first], self._new_rows()):
                self._tally.add(frame)
                yield frame
        except BaseException as error:
            self.error = error
            raise

    def batches(self, schema: pl.Schema) -> Iterator[pa.RecordBatch]:
        for frame in self.frames(schema):
            yield from arrow_batches(frame)

    @contextmanager
    def source_errors(self) -> Iterator[None]:
        """Around a write of the feed's rows: an error of their source is raised as it was
        (delta-rs would wrap it in a `DeltaError` of its own); a lost commit race as it came."""
        try:
            yield
        except CommitFailedError:
            raise
        except Exception as error:
            if self.error is not None and self.error is not error:
                raise self.error from error
            raise

    def _new_rows(self) -> Iterator[pl.DataFrame]:
        for frame in self._frames:
            kept = frame.filter(~pl.col(self._batch_column).is_in(self._done)) if self._done else frame
            if kept.height:
                yield kept


def _overwrite(uri: str, data: pl.DataFrame, spec: WriteSpec, custom: dict[str, str]) -> WriteResult:
    table = _to_write(uri)  # one read of the log, for the rows replaced, the write and its version
    before = 0 if table is None else file_stats(actions_of(table))["rows"]
    write_deltalake(
        uri if table is None else table,
        as_stream(data),
        mode="overwrite",
        schema_mode="overwrite",
        configuration=table_configuration(data.columns, spec),
        partition_by=list(spec.partition_by) or None,
        target_file_size=spec.target_file_size,
        commit_properties=CommitProperties(custom_metadata=custom),
    )
    return WriteResult(_written_version(table, uri), data.height, inserted=data.height, deleted=before)


def _overwrite_partition(
    uri: str,
    data: pl.DataFrame,
    spec: WriteSpec,
    custom: dict[str, str],
    slices: list[Any] | None,
    read_version: int | None,
) -> WriteResult:
    column = spec.partition_column
    dtype = data.schema[column]
    values = data.get_column(column).unique() if slices is None else _typed(pl.Series(column, slices), dtype)
    outside = data.filter(~pl.col(column).is_in(values.implode())).height
    if outside:
        raise ValueError(f"{uri}: {outside} rows fall outside the slices being replaced")
    if not exists(uri):
        return _overwrite(uri, data, spec, custom)
    if values.is_empty():
        return WriteResult(version(uri), 0)
    values = values.sort()
    deleted = scan(uri).filter(pl.col(column).is_in(values.implode())).select(pl.len()).collect().item()
    custom = {**custom, REPLACED_SLICES_COMMIT_KEY: json.dumps([str(v) for v in values.to_list()])}
    table = DeltaTable(uri, version=read_version)
    for attempt in range(1, SLICE_ATTEMPTS + 1):
        try:
            write_deltalake(
                table,
                as_stream(data),
                mode="overwrite",
                predicate=replace_predicate(column, values),
                partition_by=list(spec.partition_by) or None,
                target_file_size=spec.target_file_size,
                commit_properties=CommitProperties(custom_metadata=custom),
            )
            break
        except CommitFailedError:
            table = _newest_if_slices_untouched(uri, table.version(), values, attempt)
    return WriteResult(table.version(), data.height, inserted=data.height, deleted=deleted)


def _newest_if_slices_untouched(uri: str, read: int, values: pl.Series, attempt: int) -> DeltaTable:
    """After a slice replace lost the commit race: the newest table to commit it against, when every
    commit since version `read` replaced other slices (delta-rs also refuses a commit when the winner
    only rewrote a file shared with other slices, a month's say); else `SliceConflictError`."""
    touched = slices_replaced_since(uri, read, [str(v) for v in values.to_list()])
    if touched:
        raise SliceConflictError(
            f"{uri}: slice(s) {', '.join(touched[:5])} were replaced by another writer after this step "
            f"read version {read}: they must be computed again from the new version"
        )
    if attempt == SLICE_ATTEMPTS:
        raise SliceConflictError(f"{uri}: {SLICE_ATTEMPTS} commits lost the race to other writers")
    time.sleep(0.1 * 2**attempt)
    return DeltaTable(uri)


def slices_replaced_after(uri: str, version: int, *, reading_version: bool = False) -> list[str] | None:
    """The slices the commits after `version` replaced, from their commit metadata. None: a commit
    changed more than slices (a merge, a whole overwrite, a restore) or, when the caller will read
    `version` itself (`reading_version`), a vacuum since may have removed its files."""
    replaced: set[str] = set()
    for commit in commits_newest_first(uri):
        if commit["version"] <= version:
            break
        operation = commit.get("operation")
        if reading_version and operation in VACUUM_OPERATIONS:
            return None
        if operation in ROW_NEUTRAL_OPERATIONS:
            continue
        slices = commit.get(REPLACED_SLICES_COMMIT_KEY)
        if slices is None:
            return None
        replaced |= set(json.loads(slices))
    return sorted(replaced)


def slices_replaced_since(uri: str, since: int, slices: list[str]) -> list[str]:
    """Which of `slices` the commits after version `since` may have changed: those a slice replace
    named; all of them after a commit of another kind (a merge, a whole overwrite, a restore)."""
    replaced = slices_replaced_after(uri, since)
    return sorted(slices) if replaced is None else sorted(set(slices) & set(replaced))


def _typed(values: pl.Series, dtype: pl.DataType) -> pl.Series:
    """Slice values named in metadata (JSON: dates as ISO text) as the partition column's type."""
    if values.dtype == pl.String and dtype == pl.Date:
        return values.str.to_date()
    return values.cast(dtype)


def replace_predicate(column: str, values: pl.Series) -> str:
    """A delta-rs predicate selecting the slices to replace, e.g. `order_date IN ('2025-01-01')`."""
    literals = ", ".join(_sql_literal(v) for v in values.to_list())
    return f"{column} IN ({literals})"


def _sql_literal(value: Any) -> str:
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _merge(uri: str, data: pl.DataFrame, spec: WriteSpec, custom: dict[str, str]) -> WriteResult:
    if not exists(uri):
        write_deltalake(
            uri,
            as_stream(data),
            mode="append",
            configuration=table_configuration(data.columns, spec),
            target_file_size=spec.target_file_size,
            commit_properties=CommitProperties(custom_metadata=custom),
        )
        return WriteResult(version(uri), data.height, inserted=data.height)
    if data.is_empty():
        return WriteResult(version(uri), 0)
    newer = _newer_predicate(spec.sequence_column, data.columns)
    return _merged(
        uri,
        data.height,
        lambda table: (
            table.merge(
                data,
                predicate=merge_predicate(data, spec.keys),
                source_alias="s",
                target_alias="t",
                merge_schema=True,  # a column added to a contract is added to the table
                streamed_exec=False,
                commit_properties=CommitProperties(custom_metadata=custom),
            )
            .when_matched_update_all(predicate=newer)
            .when_not_matched_insert_all()
            .execute()
        ),
    )


def _scd2(uri: str, data: pl.DataFrame, spec: WriteSpec, custom: dict[str, str]) -> WriteResult:
    """Rebuild the history of the keys in `data` and merge it: new versions inserted, changed ones
    updated (keeping their surrogate key), superseded ones deleted, all in one commit."""
    keys, surrogate, sequence = list(spec.keys), spec.surrogate_key, spec.sequence_column
    stored = pl.DataFrame()
    if exists(uri):  # the first key's values first: a scan reads only the files that may hold them
        touched = data.select(keys).unique()
        first = pl.col(keys[0]).is_in(touched.get_column(keys[0]).implode())
        stored = scan(uri).filter(first).join(touched.lazy(), on=keys, how="semi").collect()
    events = (
        data
        if stored.is_empty()
        else pl.concat([scd2.stored_events(stored, keys), data], how="diagonal_relaxed")
    )
    rebuilt = scd2.versions(events, keys, spec.tracked_columns, sequence, surrogate)
    rebuilt = rebuilt.with_columns(scd2.surrogate_keys(rebuilt, keys).alias(surrogate))
    if stored.is_empty():  # only new keys: nothing to update or supersede
        inserted = dataclasses.replace(  # the table's configuration (file size, direct PII) kept
            spec,
            mode=WriteMode.MERGE,
            keys=(surrogate,),
            sequence_column=None,
            tracked_columns=(),
            surrogate_key=None,
        )
        return _merge(uri, rebuilt, inserted, custom)
    start = [*keys, scd2.VALID_FROM]
    superseded = stored.join(rebuilt, on=start, how="anti").select(start).with_columns(_op=pl.lit("delete"))
    source = pl.concat([rebuilt.with_columns(_op=pl.lit("upsert")), superseded], how="diagonal_relaxed")
    upsert = "s._op = 'upsert'"
    columns = {c: f"s.{c}" for c in rebuilt.columns}
    kept_surrogate = {c: value for c, value in columns.items() if c != surrogate}
    return _merged(
        uri,
        rebuilt.height,
        lambda table: (
            table.merge(
                source,
                predicate=" AND ".join([*(f"t.{c} = s.{c}" for c in start), *within_ranges(source, keys[0])]),
                source_alias="s",
                target_alias="t",
                streamed_exec=False,
                commit_properties=CommitProperties(custom_metadata=custom),
            )
            .when_matched_delete(predicate="s._op = 'delete'")
            .when_matched_update(kept_surrogate, predicate=upsert)
            .when_not_matched_insert(columns, predicate=upsert)
            .execute()
        ),
    )


def _merged(uri: str, rows: int, merge: Callable[[DeltaTable], dict[str, Any]]) -> WriteResult:
    """Merge `rows` source rows into the newest table (`merge` commits it, giving delta-rs' merge
    metrics), retrying with backoff while a concurrent writer wins the race; the result."""
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        table = DeltaTable(uri)
        try:
            metrics = merge(table)
            break
        except CommitFailedError:
            if attempt == MERGE_ATTEMPTS:
                raise
            time.sleep(0.2 * 2**attempt)
    return WriteResult(
        table.version(),  # the merged table knows the version it committed (no second read of the log)
        rows,
        inserted=metrics["num_target_rows_inserted"],
        updated=metrics["num_target_rows_updated"],
        deleted=metrics["num_target_rows_deleted"],
    )


def _newer_predicate(sequence: str | None, columns: list[str]) -> str | None:
    """When a matched row is replaced: the incoming row is newer by sequence, or equal in sequence
    and ingested later (a correction re-sent with the same timestamp)."""
    if sequence is None:
        return None
    newer = f"s.{sequence} > t.{sequence}"
    if "_ingested_at" in columns:
        newer += f" OR (s.{sequence} = t.{sequence} AND s._ingested_at > t._ingested_at)"
    return newer


def merge_predicate(data: pl.DataFrame, keys: tuple[str, ...]) -> str:
    """Match on the keys, and confine the target to the source's ranges of the first key.

    The ranges let delta-rs skip, and not rewrite, every file outside them: new and recently changed
    rows have neighbouring keys, so a day's merge touches a few files instead of the whole table.
    """
    return " AND ".join([*(f"t.{k} = s.{k}" for k in keys), *within_ranges(data, keys[0])])


# The most ranges a merge predicate confines the target to (`key_ranges`).
KEY_RANGES = 32


def within_ranges(data: pl.DataFrame, column: str) -> list[str]:
    """Target-only predicates (none or one): `column` within the source's ranges of it
    (`key_ranges`); none when the column is neither integer nor text, or has no value."""
    ranges = [
        f"t.{column} >= {_sql_literal(lo)} AND t.{column} <= {_sql_literal(hi)}"
        for lo, hi in key_ranges(data.get_column(column))
    ]
    if len(ranges) > 1:
        return ["(" + " OR ".join(f"({r})" for r in ranges) + ")"]
    return ranges


def key_ranges(values: pl.Series, most: int = KEY_RANGES) -> list[tuple[Any, Any]]:
    """The values as at most `most` ranges [low, high]: integers split at their widest gaps, so a
    few changed members scattered over a table's keys each bound a range of their own (with the new
    members' run), and a merge reads none of the files between them (nor rewrites them); text as one
    range; none for another type or without a value."""
    if not (values.dtype.is_integer() or values.dtype == pl.String) or values.null_count() == values.len():
        return []
    if values.dtype == pl.String:
        return [(values.min(), values.max())]
    keys = values.drop_nulls().unique().sort().to_frame("key")
    gap = pl.col("key").diff()
    split = (gap > 1) & (gap.rank("ordinal", descending=True) < most)  # the most - 1 widest gaps
    runs = keys.group_by(split.fill_null(False).cum_sum().alias("run"), maintain_order=True)
    return runs.agg(low=pl.col("key").first(), high=pl.col("key").last()).select("low", "high").rows()


def row_count(uri: str, at_version: int | None = None) -> int:
    """Rows of the table (at a version), from the log."""
    table = opened(uri, at_version)
    return 0 if table is None else file_stats(actions_of(table))["rows"]


def add_actions(uri: str, at_version: int | None = None) -> pl.DataFrame:
    """A snapshot's files with their statistics, from the log (no data file is read)."""
    return actions_of(open_table(uri, at_version))


def actions_of(table: DeltaTable) -> pl.DataFrame:
    return pl.DataFrame(table.get_add_actions(flatten=True))


def file_stats(actions: pl.DataFrame) -> dict[str, int]:
    """Rows, files and bytes of a snapshot, from its add actions."""
    if actions.is_empty():
        return {"rows": 0, "files": 0, "bytes": 0}
    return {
        "rows": int(actions.get_column("num_records").sum()),
        "files": actions.height,
        "bytes": int(actions.get_column("size_bytes").sum()),
    }
