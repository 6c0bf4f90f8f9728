"""Extraction from the shop database through ADBC: Arrow batches, no Python row objects.

The connection comes from one URI (`LAKEHOUSE_SHOP_DB_URI`): `sqlite:///path/to/shop.db` here;
the same queries run against the production database's driver.
"""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.sources.shop_tables import SourceTable

BATCH_ROWS = 100_000  # rows per Arrow batch read from the database


class SourceUnavailableError(RuntimeError):
    """The source system cannot be reached."""


class SourceSchemaError(RuntimeError):
    """A source table lacks columns the lakehouse extracts."""


def redacted(uri: str) -> str:
    """The URI without its password, for messages and logs."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", uri)


def _connect(uri: str):
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise SourceUnavailableError(
                f"shop database {redacted(uri)} is unreachable: {path} does not exist "
                "(run `lakehouse generate` or set LAKEHOUSE_SHOP_DB_URI)"
            )
        import adbc_driver_sqlite.dbapi as sqlite

        return sqlite.connect(str(path))
    raise SourceUnavailableError(
        f"shop database {redacted(uri)}: unsupported URI scheme (expected sqlite:///…)"
    )


class ShopDatabase(dg.ConfigurableResource):
    """The shop's relational database, read incrementally by each table's watermark column."""

    uri: str

    def extract_changes(self, table: SourceTable, since: str | None) -> pl.DataFrame:
        """Rows whose watermark is after `since` (all rows when None), typed as the table declares.

        SQLite's ADBC driver infers a column's type from its first rows, so a column that starts
        with NULLs and later holds a REAL (or text) fails or is truncated. So every value is read as
        never-null text (`'=' || value`, NULL as `''`), then decoded and typed here, one Arrow batch
        at a time: only the typed rows are ever held whole, never the text.
        """
        with _connect(self.uri) as conn, conn.cursor() as cursor:
            self._check_columns(cursor, table)
            columns = ", ".join(f"COALESCE('=' || CAST({c} AS TEXT), '') AS {c}" for c in table.columns)
            query = f"SELECT {columns} FROM {table.name}"
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
            if since is None:
                cursor.execute(query)
            else:
                cursor.execute(f"{query} WHERE {table.watermark_column} > ?", (since,))
            reader = cursor.fetch_record_batch()
            batches = [typed(_decoded(pl.from_arrow(batch), table), table) for batch in reader]
        return pl.concat(batches) if batches else pl.DataFrame(schema=table.columns)

    @staticmethod
    def _check_columns(cursor, table: SourceTable) -> None:
        try:
            cursor.execute(f"SELECT * FROM {table.name} LIMIT 0")
        except Exception as error:
            raise SourceSchemaError(f"shop.{table.name}: cannot read the table ({error})") from error
        present = {c.lower() for c in cursor.fetch_arrow_table().column_names}
        missing = [c for c in table.columns if c.lower() not in present]
        if missing:
            raise SourceSchemaError(
                f"shop.{table.name} lacks column(s) {', '.join(missing)} "
                f"(rule: source_schema; expected {', '.join(table.columns)})"
            )


def _decoded(encoded: pl.DataFrame, table: SourceTable) -> pl.DataFrame:
    """Undo the never-null text encoding: `''` is NULL, anything else loses its `=` prefix."""
    return encoded.select(
        pl.when(pl.col(c) != "").then(pl.col(c).str.slice(1)).alias(c) for c in table.columns
    )


def typed(text: pl.DataFrame, table: SourceTable) -> pl.DataFrame:
    """Cast text columns to the declared types; a value that does not fit stops the batch."""
    result = text.cast(table.columns, strict=False)
    unfit = pl.any_horizontal(
        text.get_column(c).is_not_null() & result.get_column(c).is_null() for c in table.columns
    )
    bad = text.filter(unfit)
    if bad.height:
        raise SourceSchemaError(
            f"shop.{table.name}: {bad.height} row(s) hold values that do not fit the declared column "
            f"types {dict(table.columns)} (rule: source_types); first: {bad.row(0, named=True)}"
        )
    return result
