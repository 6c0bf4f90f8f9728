"""Raw assets for declared file sets: each new file exactly once, whole files quarantined with a reason.

For a file set `<name>` (declared by a `LandingFileSet` component), one multi-asset writes two tables:

- `raw/<name>`: the rows of every new, ready file, with the ingestion columns; its batch id is the
  file's path in the landing zone, committed with the rows in one Delta transaction, so a file
  lands once even when a sensor fires twice or a run is retried after a crash.
- `quarantine/<name>_files`: one row per file that could not be read as a whole (truncated or
  corrupt, a CSV header without the expected columns, a column whose type differs from what raw
  holds), with the rule and the reason. The file is counted as handled, and the other files load.

Schema evolution: a column that appears in a later file is added to the raw table (Delta schema
merge) and reported in the metadata (`schema_changes`) and the log; a column whose type changed is
never cast silently: the file is quarantined under rule `column_type`.
"""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.defs.raw.ingestion import (
    EXTRACTION_RETRY,
    module_version,
    permanent_errors_fail_at_once,
    reported_problems,
    with_ingestion_columns,
)
from lakehouse.lib.columns import INGESTION, now_utc
from lakehouse.lib.freshness import DAILY
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.reads import TableReads
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.sources.declared import FileSource
from lakehouse.sources.landing import (
    FileRejected,
    LandingZone,
    ParsedFile,
    decoded_text,
    empty_rows,
    is_ready,
    read_csv_file,
    read_json_lines,
    read_parquet_file,
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
    def keys(self) -> list[dg.AssetKey]:
        """The tables its ingestion writes."""
        return [self.raw_key, self.rejected_files_key]

    def batch_id(self, path: Path) -> str:
        return f"landing/{self.source.location}/{path.name}"


def pending_files(files: FileSet, landing: LandingZone, store: TableReads) -> list[Path]:
    """Ready files not yet committed to raw nor quarantined, in name order."""
    source = files.source
    ready = [
        path
        for path in landing.list_files(source.location, source.pattern)
        if is_ready(path, source.ready, source.done_suffix, source.stable_seconds)
    ]
    ids = [files.batch_id(path) for path in ready]
    done = {
        *store.committed_batches(files.raw_key, ids),
        *store.committed_batches(files.rejected_files_key, ids),
    }
    return [path for path, batch in zip(ready, ids, strict=True) if batch not in done]


def read_file(source: FileSource, path: Path) -> ParsedFile:
    """One file by its declared format; `FileRejected` when it cannot be read as a whole."""
    if source.format == "csv":
        return read_csv_file(
            path, source.columns or (), source.csv.delimiter, source.csv.header, source.encoding
        )
    if source.format == "jsonl":
        decoded_text(path, source.encoding)  # strict: a byte that is not UTF-8 rejects the file
        parsed = read_json_lines([path], source.columns or ())
        return ParsedFile(parsed.rows.drop("_file"), parsed.malformed_lines, parsed.problems)
    rows = read_parquet_file(path)
    missing = [c for c in (*source.primary_key, *(source.columns or ())) if c not in rows.columns]
    if missing:
        raise FileRejected(path, f"lacks column(s) {', '.join(missing)}", "expected_columns")
    return ParsedFile(rows, 0, [])


@dataclass
class Ingestion:
    """What one run read: the batches for raw, the rejected files, and what it noticed."""

    known_types: dict[str, pl.DataType]
    batches: list[pl.DataFrame] = field(default_factory=list)
    rejected: list[dict[str, object]] = field(default_factory=list)
    schema_changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    malformed_lines: int = 0

    def admit(self, path: Path, rows: pl.DataFrame) -> None:
        """Raise `FileRejected` for a column whose type differs from what raw holds; note new ones."""
        data_columns = {n: t for n, t in rows.schema.items() if n not in INGESTION}
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


def ingest(files: FileSet, paths: list[Path], known_types: dict[str, pl.DataType], run_id: str) -> Ingestion:
    """Read every file; each lands in a raw batch or, whole, in the rejected files."""
    ingestion = Ingestion(dict(known_types))
    ingested_at = now_utc()
    for path in paths:
        batch_id = files.batch_id(path)
        try:
            parsed = read_file(files.source, path)
            ingestion.admit(path, parsed.rows)
        except FileRejected as error:
            ingestion.reject(path, batch_id, error)
            continue
        ingestion.problems += parsed.problems
        ingestion.malformed_lines += parsed.malformed_lines
        ingestion.batches.append(
            with_ingestion_columns(
                parsed.rows, source=str(path), batch_id=batch_id, run_id=run_id, ingested_at=ingested_at
            )
        )
    return ingestion


def raw_types(store: TableReads, files: FileSet) -> dict[str, pl.DataType]:
    """The column types raw holds (none before its first write: the first file sets them)."""
    table = store.scan_or_none(files.raw_key)
    return {} if table is None else dict(table.collect_schema())


def rejected_rows(ingestion: Ingestion, run_id: str, at: datetime) -> pl.DataFrame:
    rows = [r | {"_quarantined_at": at, "_quarantine_run_id": run_id} for r in ingestion.rejected]
    return pl.DataFrame(rows, schema=REJECTED_FILE_SCHEMA)


def raw_rows(files: FileSet, ingestion: Ingestion) -> pl.DataFrame | None:
    """The run's rows. With no file: no rows of the declared text columns (so that raw exists for
    refined), except for Parquet, whose types only its files know: then nothing is written, since
    a guessed type would make every later file look retyped."""
    if ingestion.batches:
        return pl.concat(ingestion.batches, how="diagonal_relaxed")
    if files.source.format == "parquet":
        return None
    empty = empty_rows(files.source.columns or ())
    return with_ingestion_columns(empty, source="", batch_id="", run_id="", ingested_at=now_utc())


def build_raw_file_asset(files: FileSet) -> dg.AssetsDefinition:
    source = files.source

    @dg.multi_asset(
        name=f"ingest_{files.name}",
        retry_policy=EXTRACTION_RETRY,
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
                    **write_spec.append(),
                    "source": f"landing/{source.location}/{source.pattern}",
                    "format": source.format,
                    "business_keys": list(source.primary_key),
                },
            ),
        },
    )
    def ingest_files(context: dg.AssetExecutionContext, landing: LandingZone, store: DeltaStore):
        reads = store.reading(context)
        with permanent_errors_fail_at_once():
            paths = pending_files(files, landing, reads)
        ingestion = ingest(files, paths, raw_types(reads, files), context.run.run_id)
        rows = raw_rows(files, ingestion)
        for change in ingestion.schema_changes:
            context.log.warning(f"schema change: {change}")
        context.log.info(
            f"{files.name}: {len(paths)} new file(s), {len(ingestion.batches)} loaded "
            f"({sum(batch.height for batch in ingestion.batches)} rows), "
            f"{len(ingestion.rejected)} quarantined whole"
        )
        rejected = rejected_rows(ingestion, context.run.run_id, now_utc())
        yield dg.Output(rejected, "rejected_files", metadata={"files_quarantined_now": rejected.height})
        yield dg.Output(
            rows,
            "raw",
            metadata={
                "files_ingested": len(ingestion.batches),
                "files_quarantined": len(ingestion.rejected),
                "malformed_lines": ingestion.malformed_lines,
                "schema_changes": dg.MetadataValue.md(
                    "\n".join(f"- {c}" for c in ingestion.schema_changes) or "none"
                ),
                "problems": reported_problems(context, ingestion.problems),
            },
        )

    return ingest_files
