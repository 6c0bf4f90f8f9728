"""The sandbox of ad-hoc SQL: what a reader's connection may do, and clear refusals of the rest.

Read-only mode alone still lets SQL write any file (`COPY ... TO`), read any file (`read_csv`,
`glob`), attach and write another database, load extensions and raise its own limits. A reader's
connection therefore has, before its configuration is locked:

- external access off, except the lakehouse's tables folder (the views' Parquet files);
- a memory limit and a thread limit.

Because the tables folder must stay readable, DuckDB would still let `COPY ... TO` overwrite a
file in it: only queries (`SELECT`, `EXPLAIN`) run, every other statement (COPY, ATTACH, SET,
INSTALL/LOAD, PRAGMA, CREATE, ...) is refused before DuckDB sees it. DuckDB has no statement
timeout: a timer thread interrupts the connection once the limit has passed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from lakehouse.lib.storage.location import is_remote

ALLOWED_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class SandboxError(PermissionError):
    """A statement the SQL sandbox does not allow."""


class StatementTimeoutError(TimeoutError):
    """A statement ran longer than the sandbox's time limit."""


def lock_down(con: duckdb.DuckDBPyConnection, readable: list[str], memory_limit: str, threads: int) -> None:
    """External access only to the `readable` places (folders or an object store's prefixes), the
    limits, then no setting can change."""
    roots = [r if is_remote(r) else str(Path(r).resolve()) for r in readable]
    folders = [root.rstrip("/") + "/" for root in roots]  # prefixes: never a sibling `tables2`
    con.execute("SET allowed_directories = $folders", {"folders": folders})
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET memory_limit = $limit", {"limit": memory_limit})
    con.execute("SET threads = $threads", {"threads": threads})
    con.execute("SET lock_configuration = true")


def check_statements(sql: str) -> None:
    """Refuse `sql` unless every statement in it is a query."""
    for statement in duckdb.extract_statements(sql):
        if statement.type not in ALLOWED_STATEMENTS:
            kind = statement.type.name.replace("_", " ")
            raise SandboxError(
                f"{kind} statements are not allowed: the SQL sandbox is read-only and runs queries "
                "only (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN); it never writes "
                "tables or files, attaches databases, loads extensions or changes settings"
            )


@contextmanager
def refusals_explained() -> Iterator[None]:
    """DuckDB's refusal of a file outside the tables folder, and of memory over the limit, as the
    sandbox's own errors (DuckDB's advice to raise the limit does not apply: it is locked)."""
    try:
        yield
    except duckdb.PermissionException as error:
        raise SandboxError(
            "reading or writing files is not allowed in the SQL sandbox, except the lakehouse's "
            f"table files through the catalog's views ({error})"
        ) from error
    except duckdb.OutOfMemoryException as error:
        first_line = str(error).splitlines()[0]
        raise MemoryError(
            "the query needs more memory than the SQL sandbox's limit "
            f"(LAKEHOUSE_SQL_MEMORY_LIMIT): {first_line}"
        ) from error


@contextmanager
def time_limit(con: duckdb.DuckDBPyConnection, seconds: float) -> Iterator[None]:
    """Interrupt whatever `con` runs once `seconds` have passed; the statement then fails."""
    timer = threading.Timer(seconds, con.interrupt)
    timer.start()
    try:
        yield
    except duckdb.InterruptException as error:
        raise StatementTimeoutError(
            f"the statement was stopped after {seconds:g} s, the SQL sandbox's time limit "
            "(LAKEHOUSE_SQL_TIMEOUT_SECONDS)"
        ) from error
    finally:
        timer.cancel()
