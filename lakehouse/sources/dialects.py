"""What differs between the SQL databases the shop may live in, in one place.

A database is named by one URI: `sqlite:///path/to/shop.db` (the embedded default) or
`postgresql://user:password@host:port/database`. Both are reached through ADBC, so every other
line of reading and writing (queries, Arrow batches, bulk ingestion, transactions) is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.sources.errors import SourceConnectionError, SourceUnavailableError, redacted

BATCH_BYTES = 16 * 1024 * 1024  # bytes per Arrow batch read from PostgreSQL (the driver's hint)


@dataclass(frozen=True)
class Dialect:
    name: str
    connect: Callable[[], Any]  # an ADBC DBAPI connection, in a transaction (autocommit off)
    # The statement options that stream a result in batches of about so many rows (PostgreSQL's
    # driver takes a size in bytes, `BATCH_BYTES`: its batches are cut to the rows by the reader).
    statement_options: Callable[[int], dict[str, str]]
    column_types: dict[str, str]  # the simulator's declared types (SQLite affinities) -> this dialect's

    def ddl_type(self, declared: str) -> str:
        return self.column_types.get(declared, declared)


def dialect(uri: str, *, must_exist: bool = True) -> Dialect:
    """The dialect of `uri`; `must_exist=False` lets a SQLite file be created (by the simulator)."""
    if uri.startswith("sqlite:///"):
        return _sqlite(uri, Path(uri.removeprefix("sqlite:///")), must_exist)
    if uri.startswith(("postgresql://", "postgres://")):
        return _postgresql(uri)
    raise SourceUnavailableError(
        f"shop database {redacted(uri)}: unsupported URI scheme (expected sqlite:/// or postgresql://)"
    )


def _sqlite(uri: str, path: Path, must_exist: bool) -> Dialect:
    if must_exist and not path.is_file():
        raise SourceUnavailableError(
            f"shop database {redacted(uri)} is unreachable: {path} does not exist "
            "(run `lakehouse generate` or set LAKEHOUSE_SHOP_DB_URI)"
        )

    def connect() -> Any:
        import adbc_driver_sqlite.dbapi as sqlite

        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite.connect(str(path))

    return Dialect(
        name="sqlite",
        connect=connect,
        statement_options=lambda rows: {"adbc.sqlite.query.batch_rows": str(rows)},
        column_types={},
    )


def _postgresql(uri: str) -> Dialect:
    def connect() -> Any:
        import adbc_driver_postgresql.dbapi as postgresql

        try:
            return postgresql.connect(uri)
        except Exception as error:
            # `from None`: the driver's own message may quote the URI, password included.
            raise SourceConnectionError(
                f"shop database {redacted(uri)}: cannot connect ({redacted(str(error))})"
            ) from None

    return Dialect(
        name="postgresql",
        connect=connect,
        statement_options=lambda _: {"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)},
        # SQLite's REAL is 8 bytes, PostgreSQL's 4: keep every value exactly.
        column_types={"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION"},
    )
