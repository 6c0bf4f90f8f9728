"""Extraction from the shop database through ADBC: Arrow batches, no Python row objects.

The connection comes from one URI (`LAKEHOUSE_SHOP_DB_URI`): `sqlite:///path/to/shop.db` by
default, or `postgresql://user:password@host:port/database`. The same queries run on both; what
differs between them lives in `dialects`.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import polars as pl

from lakehouse.settings import Settings
from lakehouse.sources.dialects import dialect
from lakehouse.sources.errors import SourceSchemaError
from lakehouse.sources.shop_tables import SourceTable

# A literal of each declared type, for the sentinel row that types every column of a result.
SENTINELS = {pl.Int64: "0", pl.Float64: "0.0", pl.String: "''"}
SENTINEL = "_sentinel"


class ShopDatabase(dg.ConfigurableResource):
    """The shop's relational database, read incrementally by each table's watermark column."""

    uri: str
    batch_rows: int = Settings.extract_batch_rows  # rows read (and held) at a time

    def extract_changes(self, table: SourceTable, since: str | None) -> pl.DataFrame:
        """Rows whose watermark is after `since` (all rows when None), typed as the table declares."""
        batches = list(self.stream_changes(table, since))
        return pl.concat(batches) if batches else pl.DataFrame(schema=table.columns)

    def stream_changes(self, table: SourceTable, since: str | None) -> Iterator[pl.DataFrame]:
        """The same rows, a typed batch of at most `batch_rows` at a time, as the database reads them."""
        return self._stream(table, table.columns, _after(table, since))

    def stream_changes_in_order(self, table: SourceTable, since: str | None) -> Iterator[pl.DataFrame]:
        """The same rows in order of change, in batches closed at change-time boundaries: every row
        of one watermark value is in one batch (`change_time_batches`).

        Ordered by the watermark, then by every column, nulls first: one order whatever the batch
        size, so the rows are numbered alike however they are batched. (Text sorts by the
        database's collation: a PostgreSQL and a SQLite copy of one table may number rows of one
        change time differently; the batches and their comparison with raw do not depend on it.)
        """
        watermark = table.watermark_column
        order = [watermark, *(c for c in table.columns if c != watermark)]
        rows = self._stream(table, table.columns, _after(table, since), order)
        return change_time_batches(rows, watermark)

    def stream_keys(self, table: SourceTable) -> Iterator[pl.DataFrame]:
        """Every key the table holds now (key columns only, duplicates included), batch by batch.

        What key reconciliation compares raw with: a key raw holds that is not streamed here was
        deleted from the source.
        """
        return self._stream(table, table.key_columns, None)

    def _stream(
        self,
        table: SourceTable,
        columns: dict[str, pl.DataType],
        where: str | None,
        order: list[str] | None = None,
    ) -> Iterator[pl.DataFrame]:
        """`columns` of the rows matching `where` (in `order`), a typed batch of at most
        `batch_rows` at a time.

        SQLite's ADBC driver infers a column's type from the first batch of rows, so a column that
        starts with NULLs and later holds a REAL (or text) would fail. So the query's first row is
        a sentinel holding a value of each declared type (`0`, `0.0`, `''`), dropped here: every
        column is typed from it, and read natively. A value stored with another type (SQLite keeps
        any value in any column; a PostgreSQL column may be of another type) makes the query fail;
        the rows are then read again as text, only to name the first row that does not fit. Both
        databases get the same query, so both are typed, and checked, by one rule.

        The watermark is a quoted literal, not a bound parameter: PostgreSQL's driver streams a
        query's result (COPY) only when it has no parameters, and buffers it whole otherwise.
        """
        database = dialect(self.uri)
        with database.connect() as conn, conn.cursor() as cursor:
            self._check_columns(cursor, table)
            cursor.adbc_statement.set_options(**database.statement_options(self.batch_rows))
            sentinel = ", ".join(f"{SENTINELS[dtype]} AS {c}" for c, dtype in columns.items())
            rows = f"SELECT {', '.join(columns)}, 0 FROM {table.name}{_where(where)}"
            try:
                cursor.execute(f"SELECT {sentinel}, 1 AS {SENTINEL} UNION ALL {rows}{_order_by(order)}")
                for batch in cursor.fetch_record_batch():
                    frame = pl.from_arrow(batch)
                    typed_rows = typed(frame.filter(pl.col(SENTINEL) == 0).drop(SENTINEL), table, columns)
                    yield from typed_rows.iter_slices(self.batch_rows)
            except Exception:
                conn.rollback()  # PostgreSQL refuses any statement in a failed transaction
                self._raise_unfit(cursor, table, columns, where)
                raise  # every value fits: the failure was something else (the retry policy decides)

    @staticmethod
    def _raise_unfit(cursor, table: SourceTable, columns: dict[str, pl.DataType], where: str | None) -> None:
        """Read the rows as text (`'=' || value`, NULL as `''`: never null, so never mistyped) and
        raise the error naming the first batch's values that do not fit their declared types."""
        selected = ", ".join(f"COALESCE('=' || CAST({c} AS TEXT), '') AS {c}" for c in columns)
        cursor.execute(f"SELECT {selected} FROM {table.name}{_where(where)}")
        for batch in cursor.fetch_record_batch():
            typed(_decoded(pl.from_arrow(batch), columns), table, columns)

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


def change_time_batches(batches: Iterator[pl.DataFrame], column: str) -> Iterator[pl.DataFrame]:
    """Batches of rows in order of `column`, closed at its value's boundaries: each batch read is
    held until the next one comes, and takes that one's first rows while they hold its last value,
    so no value spans two batches (a value held by more rows than a batch makes a larger one).

    What makes a batch comparable on its own with the rows already extracted: identical rows share
    their change time, so all copies of a row are in one batch.
    """
    held: pl.DataFrame | None = None
    for batch in batches:
        if batch.is_empty():
            continue
        if held is None:
            held = batch
            continue
        same_time = pl.col(column).eq_missing(held.get_column(column)[-1])
        if (continued := batch.filter(same_time)).height == batch.height:
            held = pl.concat([held, batch])
            continue
        yield pl.concat([held, continued])
        held = batch.filter(~same_time)
    if held is not None:
        yield held


def _after(table: SourceTable, since: str | None) -> str | None:
    """The condition of rows changed after `since` (None: every row)."""
    return None if since is None else f"{table.watermark_column} > {_text_literal(since)}"


def _where(condition: str | None) -> str:
    return "" if condition is None else f" WHERE {condition}"


def _order_by(columns: list[str] | None) -> str:
    """The sentinel first, then `columns` ascending, nulls first (PostgreSQL puts them last unless told)."""
    if columns is None:
        return ""
    return f" ORDER BY {SENTINEL} DESC, " + ", ".join(f"{c} NULLS FIRST" for c in columns)


def _text_literal(value: str) -> str:
    """A SQL string literal (quotes doubled: standard SQL, the same in SQLite and PostgreSQL)."""
    return "'" + value.replace("'", "''") + "'"


def _decoded(encoded: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """Undo the never-null text encoding: `''` is NULL, anything else loses its `=` prefix."""
    return encoded.select(pl.when(pl.col(c) != "").then(pl.col(c).str.slice(1)).alias(c) for c in columns)


def typed(text: pl.DataFrame, table: SourceTable, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast text columns to their declared types; a value that does not fit stops the batch."""
    result = text.cast(columns, strict=False)
    unfit = pl.any_horizontal(
        text.get_column(c).is_not_null() & result.get_column(c).is_null() for c in columns
    )
    bad = text.filter(unfit)
    if bad.height:
        raise SourceSchemaError(
            f"shop.{table.name}: {bad.height} row(s) hold values that do not fit the declared column "
            f"types {dict(columns)} (rule: source_types); first: {bad.row(0, named=True)}"
        )
    return result
