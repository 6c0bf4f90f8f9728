"""Extraction from the shop database through ADBC: Arrow batches, no Python row objects.

The connection comes from one URI (`LAKEHOUSE_SHOP_DB_URI`): `sqlite:///path/to/shop.db` here;
the same queries run against the production database's driver.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa

from lakehouse.sources.shop_tables import SourceTable


class SourceUnavailableError(RuntimeError):
    """The source system cannot be reached."""


class SourceSchemaError(RuntimeError):
    """A source table lacks columns the lakehouse extracts."""


def _connect(uri: str):
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise SourceUnavailableError(
                f"shop database {uri} is unreachable: {path} does not exist "
                "(run `lakehouse generate` or set LAKEHOUSE_SHOP_DB_URI)"
            )
        import adbc_driver_sqlite.dbapi as sqlite

        return sqlite.connect(str(path))
    raise SourceUnavailableError(f"shop database {uri}: unsupported URI scheme (expected sqlite:///…)")


class ShopDatabase(dg.ConfigurableResource):
    """The shop's relational database, read incrementally by each table's watermark column."""

    uri: str

    def extract_changes(self, table: SourceTable, since: str | None) -> pa.Table:
        """Rows whose watermark is after `since` (all rows when None), as one Arrow table."""
        with _connect(self.uri) as conn, conn.cursor() as cursor:
            self._check_columns(cursor, table)
            columns = ", ".join(table.columns)
            query = f"SELECT {columns} FROM {table.name}"
            if since is None:
                cursor.execute(query)
            else:
                cursor.execute(f"{query} WHERE {table.watermark_column} > ?", (since,))
            return cursor.fetch_arrow_table()

    def _check_columns(self, cursor, table: SourceTable) -> None:
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
