"""Dagster metadata describing a Delta table after a write: what the UI shows for every asset."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from lakehouse.lib.columns import BOOKKEEPING
from lakehouse.lib.storage.delta_tables import WriteResult, file_stats

COLUMN_LINEAGE = "dagster/column_lineage"  # declared on a definition, copied onto each materialisation


def column_schema(table: DeltaTable, declared: dg.TableSchema | None = None) -> dg.TableSchema:
    """The table's columns as stored, described as its contract (`declared`) describes them, and
    the bookkeeping columns the contract does not describe as `columns.BOOKKEEPING` does."""
    schema = pa.schema(table.schema().to_arrow())
    own = {c.name: c.description for c in declared.columns if c.description} if declared else {}
    described = BOOKKEEPING | own
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=f.name, type=str(f.type), description=described.get(f.name), constraints=_constraints(f)
            )
            for f in schema
        ]
    )


def _constraints(f: pa.Field) -> dg.TableColumnConstraints | None:
    return None if f.nullable else dg.TableColumnConstraints(nullable=False)


def materialization_metadata(
    uri: str,
    table: DeltaTable,
    table_name: str,
    result: WriteResult,
    actions: pl.DataFrame,
    declared: dg.TableSchema | None = None,
) -> dict[str, Any]:
    """Dagster metadata for a write; `table` is the table (at `uri`) after it, `actions` its add
    actions, `declared` the column schema of the asset's definition (its contract), whose
    descriptions it keeps."""
    stats = file_stats(actions)
    metadata: dict[str, Any] = {
        "dagster/table_name": table_name,
        "dagster/row_count": stats["rows"],
        "dagster/column_schema": column_schema(table, declared),
        "dagster/uri": uri,
        "delta/version": result.version,
        "delta/files": stats["files"],
        "delta/bytes": stats["bytes"],
        "rows_written": result.rows_written,
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "rows_deleted": result.deleted,
    }
    if result.skipped_batches:
        metadata["batches_already_committed"] = len(result.skipped_batches)
    return metadata
