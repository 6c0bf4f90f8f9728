"""The shop database's tables as the lakehouse extracts them: typed columns, business keys, watermark.

The watermark column holds UTC instants as fixed-width text (`2025-01-01T06:00:00.000000Z`), so
comparing the text compares the time. Each extraction re-reads an `overlap` before the watermark,
so a row committed late, with an `updated_at` a little older than rows already extracted, is not
missed (raw drops the re-read rows it already holds). Each table is declared like every other
source, by a `DatabaseTable` component (`lakehouse/defs/sources/<table>/defs.yaml`).

Customers and products are deleted in two ways. A soft delete sets `deleted_at` (the same UTC text
form as `updated_at`, which moves with it) and keeps the row. A hard delete removes the row; the
watermark cannot see a row that is gone, so those tables declare `reconcile_keys`: each extraction
also reads the source's full key list and compares it with the keys raw holds as live.
"""

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from lakehouse.sources.declared import TableSource

# The declared column types, as extracted.
COLUMN_TYPES: dict[str, pl.DataType] = {"integer": pl.Int64(), "real": pl.Float64(), "text": pl.String()}


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: dict[str, pl.DataType]
    keys: tuple[str, ...]
    watermark_column: str = "updated_at"
    overlap: timedelta = timedelta(minutes=10)
    deleted_column: str | None = None  # set when the row was (soft or hard) deleted
    reconcile_keys: bool = False  # find hard deletes by comparing key lists
    direct_pii: tuple[str, ...] = ()  # columns of direct personal data (masked, never indexed)

    def __post_init__(self) -> None:
        if self.reconcile_keys and self.deleted_column is None:
            raise ValueError(f"shop.{self.name}: key reconciliation needs a deleted column to mark deletes")

    @property
    def key_columns(self) -> dict[str, pl.DataType]:
        return {key: self.columns[key] for key in self.keys}


def source_table(declared: TableSource) -> SourceTable:
    """The table as declared."""
    return SourceTable(
        name=declared.name,
        columns={column: COLUMN_TYPES[kind] for column, kind in declared.columns.items()},
        keys=tuple(declared.primary_key),
        watermark_column=declared.watermark,
        overlap=timedelta(minutes=declared.overlap_minutes),
        deleted_column=declared.deleted,
        reconcile_keys=declared.reconcile_keys,
        direct_pii=declared.direct_pii,
    )
