"""The serving catalog as Dagster's DuckDB resource: every DuckDB connection of the lakehouse.

One `ServingCatalog` is shared by the catalog step (which builds a new catalog through
`writable`), the SQL checks and the SQL mart (through Dagster), and `lakehouse sql`/`tables`
(through `query.py`). Readers always get a read-only connection; the one writer never opens the
published file, only the temporary file it is building, so a reader never blocks a publish.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

READ_ONLY = {"access_mode": "READ_ONLY"}
IN_MEMORY = ":memory:"


def configure(con: duckdb.DuckDBPyConnection) -> None:
    """The settings of every connection, readers' and writer's alike, applied once it is open.

    The single place for the sandbox of the trust issue: `enable_external_access = false` with
    `allowed_directories` (the tables folder), then `lock_configuration = true`, so ad-hoc SQL
    can neither write files nor read outside the lakehouse (read-only mode alone allows both).
    """
    con.execute("SET TimeZone = 'UTC'")  # not a connect option: it needs the ICU extension loaded


class ServingCatalog(DuckDBResource):
    """The DuckDB catalog of views over the Delta tables (`database`), opened read-only."""

    connection_config: dict[str, Any] = Field(
        default=READ_ONLY, description="DuckDB options at connect: read-only, for readers."
    )

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A configured connection, closed on leaving even on an error (DuckDB caches an open
        database by path, so a leaked connection would keep serving the old catalog)."""
        with super().get_connection() as con, con:
            configure(con)
            yield con

    def writable(self, database: Path | str) -> ServingCatalog:
        """The same settings, read-write, on another database: a catalog being built, or
        `:memory:` for a step's own views. Never the published file, which readers hold."""
        if Path(database) == Path(self.database):
            raise ValueError(f"{self.database} is published: build a new catalog and swap it in")
        config = {name: value for name, value in self.connection_config.items() if name != "access_mode"}
        return ServingCatalog(database=str(database), connection_config=config)
