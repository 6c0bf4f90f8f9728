"""How an asset's output is written to its Delta table, declared in the asset's metadata.

An asset says *what* it produces; the spec says *how* it lands:

- `append`: add rows; idempotent per source batch. Rows carry a batch id column, and each batch is
  committed together with a Delta app transaction named after it, so a retried or re-run step never
  writes a batch twice.
- `overwrite`: replace the whole table atomically.
- `overwrite_partition`: replace only the slices (values of `partition_column`) present in the
  output, or the run's Dagster partition when the asset is partitioned.
- `merge`: upsert on `keys`; with a `sequence_column`, a matched row is updated only when the
  incoming row is newer, so replays and out-of-order batches never move a row back in time.
- `scd2`: history by `keys`: the output is change events (sequenced by `sequence_column`, a
  change in a `tracked_columns` value starts a version, `_deleted` closes one); each version has a
  `surrogate_key`, `valid_from`, `valid_to` and `is_current` (see `scd2`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from lakehouse.lib.storage.layout import TARGET_FILE_SIZE

WRITE_SPEC_KEY = "lakehouse/write"
# Output metadata naming the slices an `overwrite_partition` run replaces (default: those present).
REPLACED_SLICES = "replaced_slices"
BATCH_COLUMN = "_batch_id"


def plain(entry: Any) -> Any:
    """A metadata entry's plain value: Dagster hands definition metadata over wrapped as MetadataValues."""
    return getattr(entry, "value", entry)


class WriteMode(StrEnum):
    APPEND = "append"
    OVERWRITE = "overwrite"
    OVERWRITE_PARTITION = "overwrite_partition"
    MERGE = "merge"
    SCD2 = "scd2"


@dataclass(frozen=True)
class WriteSpec:
    mode: WriteMode
    keys: tuple[str, ...] = field(default_factory=tuple)
    sequence_column: str | None = None
    partition_column: str | None = None
    partition_by: tuple[str, ...] = ()  # physical layout: one folder per value (e.g. a month)
    batch_column: str = BATCH_COLUMN
    tracked_columns: tuple[str, ...] = ()  # scd2: a change in these starts a new version
    surrogate_key: str | None = None  # scd2: the version's key column
    # Columns of direct personal data: no statistics of theirs in the Delta log, masked when served.
    direct_pii: tuple[str, ...] = ()
    # Bytes a data file holds at most (None: `layout.TARGET_FILE_SIZE`). Smaller for a table whose
    # daily changes scatter over its keys: a merge rewrites every file holding a changed row.
    file_size: int | None = None

    def __post_init__(self) -> None:
        if self.mode in (WriteMode.MERGE, WriteMode.SCD2) and not self.keys:
            raise ValueError(f"{self.mode.value} needs the business keys to match on")
        if self.mode is WriteMode.SCD2 and not (self.sequence_column and self.surrogate_key):
            raise ValueError("scd2 needs a sequence column and a surrogate key column")
        if self.mode is WriteMode.OVERWRITE_PARTITION and not self.partition_column:
            raise ValueError("overwrite_partition needs the partition column")

    @property
    def target_file_size(self) -> int:
        return self.file_size or TARGET_FILE_SIZE

    def as_metadata(self) -> dict[str, Any]:
        """The asset definition metadata entry that declares this spec."""
        spec = {k: v for k, v in asdict(self).items() if v not in (None, ())}
        spec["mode"] = self.mode.value
        spec["keys"] = list(self.keys)
        spec["partition_by"] = list(self.partition_by)
        spec["tracked_columns"] = list(self.tracked_columns)
        if self.direct_pii:
            spec["direct_pii"] = list(self.direct_pii)
        return {WRITE_SPEC_KEY: spec}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> WriteSpec:
        raw = metadata.get(WRITE_SPEC_KEY)
        if raw is None:
            raise KeyError(f"asset metadata has no '{WRITE_SPEC_KEY}' entry (how to write it)")
        raw = dict(plain(raw))  # JsonMetadataValue or plain dict
        raw["mode"] = WriteMode(raw["mode"])
        raw["keys"] = tuple(raw.get("keys", ()))
        raw["partition_by"] = tuple(raw.get("partition_by", ()))
        raw["tracked_columns"] = tuple(raw.get("tracked_columns", ()))
        raw["direct_pii"] = tuple(raw.get("direct_pii", ()))
        return cls(**raw)


def with_direct_pii(metadata: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """A write spec's metadata entry, naming the table's direct PII columns (none: unchanged)."""
    return _with(metadata, direct_pii=tuple(columns)) if columns else dict(metadata)


def with_file_size(metadata: Mapping[str, Any], file_size: int | None) -> dict[str, Any]:
    """A write spec's metadata entry with the table's own file size (None: unchanged)."""
    return dict(metadata) if file_size is None else _with(metadata, file_size=file_size)


def _with(metadata: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    return replace(WriteSpec.from_metadata(metadata), **changes).as_metadata()


def append() -> dict[str, Any]:
    return WriteSpec(WriteMode.APPEND).as_metadata()


def overwrite() -> dict[str, Any]:
    return WriteSpec(WriteMode.OVERWRITE).as_metadata()


def overwrite_partition(partition_column: str, partition_by: tuple[str, ...] = ()) -> dict[str, Any]:
    return WriteSpec(
        WriteMode.OVERWRITE_PARTITION, partition_column=partition_column, partition_by=partition_by
    ).as_metadata()


def merge(keys: list[str], sequence_column: str | None = None) -> dict[str, Any]:
    return WriteSpec(WriteMode.MERGE, keys=tuple(keys), sequence_column=sequence_column).as_metadata()


def scd2(
    keys: list[str], sequence_column: str, tracked_columns: list[str], surrogate_key: str
) -> dict[str, Any]:
    return WriteSpec(
        WriteMode.SCD2,
        keys=tuple(keys),
        sequence_column=sequence_column,
        tracked_columns=tuple(tracked_columns),
        surrogate_key=surrogate_key,
    ).as_metadata()
