"""Files quarantined whole (`quarantine/<file set>_files`): list them, and release one for re-ingestion.

A rejected file stays in the landing zone. Once the supplier re-sends it under the same name, or it
has been repaired in place, releasing it removes its quarantine row and, in the same Delta commit,
un-marks its batch (app transaction version 0), so the next run ingests it like a new file. The
release is recorded in the audit log.
"""

from pathlib import Path

import polars as pl
from deltalake import CommitProperties, DeltaTable, Transaction

from lakehouse.defs.raw.files import FileSet
from lakehouse.lib.file_versions import is_version_of
from lakehouse.lib.storage import audit, delta_tables
from lakehouse.lib.storage.store import DeltaStore


def rejected_files(store: DeltaStore, file_sets: list[FileSet]) -> pl.DataFrame:
    """Every file quarantined whole: its file set, name, rule and reason, oldest first."""
    frames = [
        table.select(pl.lit(files.name).alias("file_set"), "file", "rule", "reason", "_quarantined_at")
        for files in file_sets
        if (table := store.scan_or_none(files.rejected_files_key)) is not None
    ]
    schema = {"file_set": pl.String, "file": pl.String, "rule": pl.String, "reason": pl.String}
    if not frames:
        return pl.DataFrame(schema=schema | {"_quarantined_at": pl.Datetime("us", "UTC")})
    return pl.concat(frames).sort("_quarantined_at", "file").collect()


def release_file(store: DeltaStore, files: FileSet, name: str) -> int:
    """Release the quarantined file `name` (its file name) of `files`; how many rows left quarantine."""
    rejected = store.pin(files.rejected_files_key)
    held = rejected.scan_or_none()
    batches = [] if held is None else _batches_of(held, files.batch_id(Path(name)))
    if not batches:
        raise ValueError(f"{name} is not in quarantine/{files.name}_files (see `lakehouse quarantine files`)")
    read = {rejected.name: rejected.version}
    provenance = {"lakehouse.release_file": ",".join(batches), delta_tables.INPUT_VERSIONS_COMMIT_KEY: read}
    metrics = DeltaTable(rejected.uri).delete(
        predicate=delta_tables.replace_predicate("_batch_id", pl.Series(batches)),
        commit_properties=CommitProperties(
            custom_metadata=delta_tables.as_commit_metadata(provenance),
            app_transactions=[Transaction(batch, delta_tables.BATCH_UNDONE) for batch in batches],
        ),
    )
    audit.record(
        store.root,
        operation="release_file",
        table="/".join(files.rejected_files_key.path),
        version=DeltaTable(rejected.uri).version(),
        details={"file": ",".join(batches)},
    )
    return metrics["num_deleted_rows"]


def _batches_of(rejected: pl.LazyFrame, batch: str) -> list[str]:
    """The quarantined batches of a file: its own and those of its versions (`…@sha256:<digest>`)."""
    versions = rejected.filter(is_version_of(batch)).select(pl.col("_batch_id").unique().sort())
    return versions.collect().get_column("_batch_id").to_list()
