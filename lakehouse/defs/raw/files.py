"""Raw assets for declared file sets: each new file exactly once, whole files quarantined with a reason.

For a file set `<name>` (declared by a `LandingFileSet` component), one multi-asset writes two tables:

- `raw/<name>`: the rows of every new, ready file, with the ingestion columns; its batch id is the
  file's path in the landing zone, committed with the rows in one Delta transaction, so a file
  lands once even when a sensor fires twice or a run is retried after a crash.
- `quarantine/<name>_files`: one row per file that could not be read as a whole (truncated or
  corrupt, a CSV header without the expected columns, a column whose type differs from what raw
  holds), with the rule and the reason. The file is counted as handled, and the other files load.

- `raw/<name>_file_versions`: the registry of the file versions ingested, one row each: name,
  bytes, SHA-256, rows and batch id (0 rows for an empty or header-only file, so that it is not
  listed as pending again).

Files of any size: every pending file is first checked whole (`open_file`: it decodes, its header
or columns are there, its types match raw's), so rejections are known before anything is written;
then the admitted files are read a block at a time and appended to raw as they are parsed, in one
commit (`RowBatches`), so memory follows the block, not the files.

Schema evolution: a column that appears in a later file is added to the raw table (Delta schema
merge) and reported in the metadata (`schema_changes`) and the log; a column whose type changed is
never cast silently: the file is quarantined under rule `column_type`.

A file re-sent under a name already ingested, with other content (another SHA-256), is a new
version (`lakehouse.lib.file_versions`), handled by the file set's `on_changed_file` policy:
`correct` ingests it under its own batch id, so that its rows replace the earlier version's by key
in refined, and reports how many rows changed, were added or removed (run summary and metadata);
`quarantine` puts it in `quarantine/<name>_files` (rule `changed_file`) for review, and releasing
it (`lakehouse quarantine release-file`) lets the next run ingest it as a correction. The same name
with the same content is skipped, as before.
"""

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.defs.raw.ingestion import (
    EXTRACTION_RETRY,
    REGISTRY,
    module_version,
    permanent_errors_fail_at_once,
    reported_problems,
    with_ingestion_columns,
)
from lakehouse.lib.columns import INGESTION, now_utc
from lakehouse.lib.data_version import data_version_after, ingested_data_version
from lakehouse.lib.file_versions import (
    VersionChanges,
    hashed,
    same_bytes,
    version_batch_id,
    version_changes,
)
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.pools import table_pool
from lakehouse.lib.quality.run_warnings import warning_metadata
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.reads import TableReads
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.sources.declared import FileSource
from lakehouse.sources.landing import (
    DEFAULT_BATCH_BYTES,
    LINE_COLUMN,
    RESCUED_COLUMN,
    FileRejected,
    LandingFile,
    LandingZone,
    ParsedFile,
    empty_rows,
    is_ready,
    open_csv_file,
    open_json_lines_file,
    open_parquet_file,
)

REJECTED_FILE_SCHEMA = {
    "_batch_id": pl.String,
    "file": pl.String,
    "bytes": pl.Int64,
    "rule": pl.String,
    "reason": pl.String,
    "_quarantined_at": pl.Datetime("us", "UTC"),
    "_quarantine_run_id": pl.String,
}
FILE_VERSION_SCHEMA = {
    "_batch_id": pl.String,
    "file": pl.String,
    "bytes": pl.Int64,
    "modified_ns": pl.Int64,  # the file's modification time (ns since the epoch) when it was hashed
    "sha256": pl.String,
    "rows": pl.Int64,
    "replaces": pl.String,  # the batch id of the version it replaced (null: the file's first)
    "_ingested_at": pl.Datetime("us", "UTC"),
    "_run_id": pl.String,
}


@dataclass(frozen=True)
class FileSet:
    """A declared file set and the tables it feeds."""

    name: str
    source: FileSource

    @property
    def raw_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.name])

    @property
    def rejected_files_key(self) -> dg.AssetKey:
        return dg.AssetKey(["quarantine", f"{self.name}_files"])

    @property
    def versions_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", f"{self.name}_file_versions"])

    @property
    def keys(self) -> list[dg.AssetKey]:
        """The tables its ingestion writes."""
        return [self.raw_key, self.rejected_files_key, self.versions_key]

    def batch_id(self, path: Path) -> str:
        return f"landing/{self.source.location}/{path.name}"


@dataclass(frozen=True)
class PendingFile:
    """A ready file version to ingest (or, `registered_only`, only to record in the registry)."""

    path: Path
    batch_id: str
    # None: a file's first version, hashed as it is opened (one read for its digest and its
    # decoding check); its batch id does not need the digest, a later version's does
    sha256: str | None
    # the file's size and modification time when it was looked at; once hashed, those of the
    # reading that hashed it (the registry keeps them: the bytes it names are those hashed)
    seen: os.stat_result
    replaces: str | None = None  # the batch id of the earlier version of a file whose content changed
    registered_only: bool = False  # in raw already, missing from the registry (a crash between them)
    released: bool = False  # quarantined for review, then released (`lakehouse quarantine release-file`)


@dataclass(frozen=True)
class Registered:
    """The newest version of a file the registry holds: its batch id, SHA-256, and the size and
    modification time the file had when hashed (None in a registry from before they were kept)."""

    batch_id: str
    sha256: str
    bytes: int | None
    modified_ns: int | None

    def unchanged(self, seen: os.stat_result) -> bool:
        """Whether the file is as it was when this version was hashed: same size, same modification
        time. Then it is not read and hashed again, so a run's cost does not grow with the files the
        landing zone has kept (every settlement file of the year, hashed on every run and sensor
        tick). A change that keeps both, to the nanosecond, goes unseen, as it does for rsync.

        Only a time finer than a second is trusted: a store that keeps whole seconds (S3's
        LastModified) or none (0) would hide a file rewritten at the same size within the second,
        so its files are hashed each time."""
        if not seen.st_mtime_ns % 1_000_000_000:
            return False
        return (self.bytes, self.modified_ns) == (seen.st_size, seen.st_mtime_ns)


def latest_versions(files: FileSet, store: TableReads) -> dict[str, Registered]:
    """Per file name, the newest version the registry holds."""
    registry = store.scan_or_none(files.versions_key)
    if registry is None:
        return {}
    kept = registry.collect_schema()
    seen = [pl.col(c) if c in kept else pl.lit(None, pl.Int64).alias(c) for c in ("bytes", "modified_ns")]
    newest = registry.sort("_ingested_at").unique("file", keep="last")
    rows = newest.select("file", "_batch_id", "sha256", *seen).collect().iter_rows()
    return {name: Registered(*version) for name, *version in rows}


def file_versions(files: FileSet, landing: LandingZone, store: TableReads) -> list[PendingFile]:
    """The ready files' versions to handle, in name order: each file not ingested yet, and each
    whose content changed since its newest ingested version (not handled yet either)."""
    source = files.source
    ready = [
        path
        for path in landing.list_files(source.location, source.pattern)
        if is_ready(path, source.ready, source.done_suffix, source.stable_seconds)
    ]
    known = latest_versions(files, store)
    candidates = [_candidate(files, path, known.get(path.name)) for path in ready]
    candidates = [c for c in candidates if c is not None]
    ids = [c.batch_id for c in candidates]
    in_raw = store.committed_batches(files.raw_key, ids)
    registered = store.committed_batches(files.versions_key, ids)
    handled = in_raw | registered | store.committed_batches(files.rejected_files_key, ids)
    unregistered = in_raw - registered  # a crash between the raw commit and the registry's
    released = store.pin(files.rejected_files_key).undone_batches([i for i in ids if i not in handled])
    return [
        _hashed_if(replace(c, registered_only=c.batch_id in handled, released=c.batch_id in released))
        for c in candidates
        if c.batch_id not in handled or c.batch_id in unregistered
    ]


def _hashed_if(file: PendingFile) -> PendingFile:
    """A version only to register (its rows in raw already) with its digest: it is not opened."""
    return _hashed(file) if file.registered_only and file.sha256 is None else file


def _hashed(file: PendingFile) -> PendingFile:
    """The version with its digest, and its size and modification time from the same reading."""
    digest = hashed(file.path)
    return replace(file, sha256=digest.hexdigest(), seen=digest.seen)


def _candidate(files: FileSet, path: Path, known: Registered | None) -> PendingFile | None:
    """The file's version to handle unless the registry holds this very content as its newest
    (the file unchanged since it was hashed, or hashing to the same)."""
    seen = path.stat()  # before reading: a change while it is hashed shows at the next look
    if known is not None and known.unchanged(seen):
        return None
    if known is None:
        return PendingFile(path, files.batch_id(path), None, seen)
    digest = hashed(path)  # its size and time from the reading hashed, not from `seen`
    sha256 = digest.hexdigest()
    if known.sha256 == sha256:
        return None
    batch_id = version_batch_id(files.batch_id(path), sha256)
    return PendingFile(path, batch_id, sha256, digest.seen, replaces=known.batch_id)


def pending_files(files: FileSet, landing: LandingZone, store: TableReads) -> list[Path]:
    """Ready files with a version not yet committed to raw nor quarantined, in name order."""
    return [f.path for f in file_versions(files, landing, store) if not f.registered_only]


def open_file(source: FileSource, path: Path, batch_bytes: int = DEFAULT_BATCH_BYTES) -> LandingFile:
    """One file by its declared format, checked whole and ready to be read in batches;
    `FileRejected` when it cannot be read as a whole."""
    if source.format == "csv":
        return open_csv_file(
            path, source.columns or (), source.csv.delimiter, source.csv.header, source.encoding, batch_bytes
        )
    if source.format == "jsonl":
        return open_json_lines_file(path, source.columns or (), source.encoding, batch_bytes)
    parquet = open_parquet_file(path)
    missing = [c for c in (*source.primary_key, *(source.columns or ())) if c not in parquet.schema]
    if missing:
        raise FileRejected(path, f"lacks column(s) {', '.join(missing)}", "expected_columns")
    return parquet


@dataclass(frozen=True)
class Admitted:
    """A file version checked whole, to be read in batches into raw."""

    pending: PendingFile
    file: LandingFile


@dataclass
class Ingestion:
    """What one run read: the files admitted to raw, the rejected files, and what it noticed."""

    known_types: dict[str, pl.DataType]
    admitted: list[Admitted] = field(default_factory=list)
    rejected: list[dict[str, object]] = field(default_factory=list)
    schema_changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    malformed_lines: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # rows read of each file version, by batch id
    corrections: list[str] = field(default_factory=list)  # each new version ingested, what it changed

    def admit(self, path: Path, schema: pl.Schema) -> None:
        """Raise `FileRejected` for a column whose type differs from what raw holds; note new ones."""
        data_columns = {n: t for n, t in schema.items() if n not in INGESTION}
        changed = [
            f"{name} is {dtype}, raw holds {self.known_types[name]}"
            for name, dtype in data_columns.items()
            if name in self.known_types and dtype != self.known_types[name]
        ]
        if changed:
            raise FileRejected(path, "column type changed: " + "; ".join(changed), "column_type")
        new = {name: dtype for name, dtype in data_columns.items() if name not in self.known_types}
        if self.known_types:  # the first file of a table sets its columns; later ones may add some
            self.schema_changes += [f"{path.name}: new column {n} ({t})" for n, t in new.items()]
        self.known_types |= new

    def reject(self, path: Path, batch_id: str, error: FileRejected) -> None:
        self.problems.append(str(error))
        self.rejected.append(
            {
                "_batch_id": batch_id,
                "file": str(path),
                "bytes": path.stat().st_size,
                "rule": error.rule,
                "reason": error.reason,
            }
        )

    def counted(self, batch_id: str, parsed: ParsedFile) -> pl.DataFrame:
        """A batch's rows, its rows, lines rescued and problems counted."""
        self.rows[batch_id] = self.rows.get(batch_id, 0) + parsed.rows.height
        self.malformed_lines += parsed.malformed_lines
        self.problems += parsed.problems
        return parsed.rows

    @property
    def rows_read(self) -> int:
        return sum(self.rows.values())

    def versions(self, pending: list[PendingFile]) -> list[dict[str, object]]:
        """The registry's new rows, in file order: every version loaded (with its rows, 0 for an
        empty file) or found in raw but not registered (a crash between the two commits)."""
        admitted = {a.pending.batch_id: a.pending for a in self.admitted}  # as hashed when opened
        return [
            {
                "_batch_id": file.batch_id,
                "file": file.path.name,
                "bytes": file.seen.st_size,
                "modified_ns": file.seen.st_mtime_ns,
                "sha256": file.sha256,
                "rows": None if file.registered_only else self.rows.get(file.batch_id, 0),
                "replaces": file.replaces,
            }
            for file in (admitted.get(f.batch_id, f) for f in pending)
            if file.registered_only or file.batch_id in self.rows
        ]


def ingest(
    files: FileSet, pending: list[PendingFile], reads: TableReads, batch_bytes: int = DEFAULT_BATCH_BYTES
) -> Ingestion:
    """Check every file version whole: each is admitted to raw or, whole, rejected with its rule.
    Nothing is read into memory here: the admitted files are read in batches as raw is written."""
    ingestion = Ingestion(raw_types(reads, files))
    for file in pending:
        if file.registered_only:
            continue
        try:
            opened = _open_version(files, file, batch_bytes)
            ingestion.admit(file.path, opened.schema)
        except FileRejected as error:
            ingestion.reject(file.path, file.batch_id, error)
            continue
        # a later version's batch id names the digest it had when discovered: still its content?
        same_bytes(file.path, file.sha256, opened.sha256)
        ingestion.admitted.append(Admitted(replace(file, sha256=opened.sha256, seen=opened.seen), opened))
    return ingestion


def _open_version(files: FileSet, file: PendingFile, batch_bytes: int) -> LandingFile:
    """The file, checked; a changed version under the `quarantine` policy is rejected for review."""
    if file.replaces is not None and files.source.on_changed_file == "quarantine" and not file.released:
        reason = (
            f"content changed since it was ingested as {file.replaces}: held for review "
            "(on_changed_file: quarantine)"
        )
        raise FileRejected(file.path, reason, "changed_file")
    return open_file(files.source, file.path, batch_bytes)


def raw_batches(ingestion: Ingestion, run_id: str) -> RowBatches:
    """The admitted files' rows a batch at a time, with their ingestion columns (each file its own
    source batch), counted into `ingestion` as they are read."""
    ingested_at = now_utc()
    schema: dict[str, pl.DataType] = {}
    for admitted in ingestion.admitted:
        schema |= {n: t for n, t in admitted.file.schema.items() if n not in schema}

    def rows(admitted: Admitted) -> Iterator[pl.DataFrame]:
        file = admitted.pending
        batch = {"batch_id": file.batch_id, "run_id": run_id, "ingested_at": ingested_at}
        ingestion.rows[file.batch_id] = 0  # an empty file is a version with 0 rows
        for parsed in admitted.file.batches():
            yield with_ingestion_columns(
                ingestion.counted(file.batch_id, parsed), source=str(file.path), **batch
            )

    empty = with_ingestion_columns(
        pl.DataFrame(schema=schema), source="", batch_id="", run_id="", ingested_at=ingested_at
    )
    return RowBatches(
        schema=empty.schema,
        batches=itertools.chain.from_iterable(rows(a) for a in ingestion.admitted),
        source_batches=[a.pending.batch_id for a in ingestion.admitted],
    )


def _correction(files: FileSet, admitted: Admitted, reads: TableReads) -> str:
    """What a new version changes against the one it replaces, as a line for the run summary (read
    back from raw once both are there)."""
    file, raw = admitted.pending, reads.scan(files.raw_key)
    earlier, newer = (raw.filter(pl.col("_batch_id") == batch) for batch in (file.replaces, file.batch_id))
    schema = admitted.file.schema
    columns = [c for c in schema if c not in (*INGESTION, RESCUED_COLUMN, LINE_COLUMN)]
    changes: VersionChanges = version_changes(earlier, newer, files.source.primary_key, columns)
    return (
        f"{file.path.name}: new version (sha256:{file.sha256[:12]}) corrects {file.replaces}: "
        f"{changes.describe()}"
    )


def raw_types(store: TableReads, files: FileSet) -> dict[str, pl.DataType]:
    """The column types raw holds (none before its first write: the first file sets them)."""
    table = store.scan_or_none(files.raw_key)
    return {} if table is None else dict(table.collect_schema())


def rejected_rows(ingestion: Ingestion, run_id: str, at: datetime) -> pl.DataFrame:
    rows = [r | {"_quarantined_at": at, "_quarantine_run_id": run_id} for r in ingestion.rejected]
    return pl.DataFrame(rows, schema=REJECTED_FILE_SCHEMA)


def version_rows(ingestion: Ingestion, pending: list[PendingFile], run_id: str, at: datetime) -> pl.DataFrame:
    rows = [r | {"_ingested_at": at, "_run_id": run_id} for r in ingestion.versions(pending)]
    return pl.DataFrame(rows, schema=FILE_VERSION_SCHEMA)


def raw_rows(files: FileSet, ingestion: Ingestion, run_id: str) -> RowBatches | pl.DataFrame | None:
    """The run's rows, read in batches as they are written. With no file: no rows of the declared
    text columns (so that raw exists for refined), except for Parquet, whose types only its files
    know: then nothing is written, since a guessed type would make every later file look retyped."""
    if ingestion.admitted:
        return raw_batches(ingestion, run_id)
    if files.source.format == "parquet":
        return None
    empty = empty_rows(files.source.columns or ())
    return with_ingestion_columns(empty, source="", batch_id="", run_id="", ingested_at=now_utc())


def build_raw_file_asset(files: FileSet) -> dg.AssetsDefinition:
    source = files.source

    @dg.multi_asset(
        name=f"ingest_{files.name}",
        retry_policy=EXTRACTION_RETRY,
        pool=table_pool(files.raw_key),  # and its rejected files and versions, written by the same step
        outs={
            "rejected_files": dg.AssetOut(
                key=files.rejected_files_key,
                group_name="quarantine",
                code_version=module_version(__name__),
                kinds={"delta", "polars"},
                description=f"{files.name} files that could not be read whole, with the rule and reason.",
                metadata=write_spec.append(),
            ),
            "raw": dg.AssetOut(
                key=files.raw_key,
                group_name="raw",
                code_version=module_version(__name__),
                kinds={"delta", "polars", source.format},
                freshness_policy=DAILY,
                description=f"{source.description} As they arrived, one batch per file.",
                metadata={
                    **write_spec.with_direct_pii(write_spec.append(), source.direct_pii),
                    "source": f"landing/{source.location}/{source.pattern}",
                    "format": source.format,
                    "business_keys": list(source.primary_key),
                },
            ),
            "file_versions": dg.AssetOut(
                key=files.versions_key,
                group_name="raw",
                code_version=module_version(__name__),
                kinds={"delta", "polars"},
                description=(
                    f"The {files.name} file versions ingested, one row each: name, bytes, SHA-256, "
                    "rows (0: an empty file) and batch id; a file re-sent with other content is a "
                    "new version."
                ),
                metadata={**write_spec.append(), REGISTRY: True},
            ),
        },
    )
    def ingest_files(context: dg.AssetExecutionContext, landing: LandingZone, store: DeltaStore):
        reads = store.reading(context)
        with permanent_errors_fail_at_once():
            pending = file_versions(files, landing, reads)
        ingestion = ingest(files, pending, reads, landing.batch_bytes)
        for change in ingestion.schema_changes:
            context.log.warning(f"schema change: {change}")

        def read_report() -> dict[str, object]:
            """What reading the files found, once raw holds their rows (corrections compare them)."""
            corrected = [a for a in ingestion.admitted if a.pending.replaces is not None]
            ingestion.corrections += [_correction(files, a, reads) for a in corrected]
            for correction in ingestion.corrections:
                context.log.warning(f"corrected: {correction}")
            context.log.info(
                f"{files.name}: {len(pending)} new file version(s), {len(ingestion.admitted)} loaded "
                f"({ingestion.rows_read} rows), {len(ingestion.rejected)} quarantined whole"
            )
            return {
                "malformed_lines": ingestion.malformed_lines,
                "problems": reported_problems(context, ingestion.problems),
                **warning_metadata(ingestion.corrections),
            }

        rows = raw_rows(files, ingestion, context.run.run_id)
        if isinstance(rows, RowBatches):
            rows = replace(rows, report=read_report)
        metadata = {
            "files_ingested": len(ingestion.admitted),
            "files_quarantined": len(ingestion.rejected),
            "files_corrected": sum(a.pending.replaces is not None for a in ingestion.admitted),
            "schema_changes": dg.MetadataValue.md(
                "\n".join(f"- {c}" for c in ingestion.schema_changes) or "none"
            ),
        }
        if not isinstance(rows, RowBatches):
            metadata |= read_report()
        wrote = any(a.file.has_rows for a in ingestion.admitted)
        raw_version = data_version_after(context, files.raw_key, wrote_rows=wrote)
        # raw first: its files are read as they are written, and only then is all known
        yield dg.Output(rows, "raw", data_version=raw_version, metadata=metadata)
        at = now_utc()
        rejected = rejected_rows(ingestion, context.run.run_id, at)
        yield dg.Output(
            rejected,
            "rejected_files",
            data_version=ingested_data_version(context, files.rejected_files_key, rejected),
            metadata={"files_quarantined_now": rejected.height},
        )
        # after raw: a version is registered once its rows are committed (a crash in between is
        # repaired by the next run, which registers what raw holds and the registry lacks)
        versions = version_rows(ingestion, pending, context.run.run_id, at)
        data_version = ingested_data_version(context, files.versions_key, versions)
        yield dg.Output(versions, "file_versions", data_version=data_version)

    return ingest_files
