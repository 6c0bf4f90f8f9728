"""The serving catalog as Dagster's DuckDB resource: every DuckDB connection of the lakehouse.

One `ServingCatalog` is shared by the catalog step (which builds a new catalog through
`writable`), the SQL checks and the SQL mart (through Dagster), and `lakehouse sql`/`tables`
(through `query.py`). Readers always get a read-only connection, sandboxed (`sandbox.py`): they
read only the tables folder, within the memory and thread limits. The one writer never opens the
published file, only the temporary file it is building, so a reader never blocks a publish.

Readers see direct PII masked. A reader given a `clear_pii_purpose` (the privileged setting
`LAKEHOUSE_PII_CLEAR_PURPOSE`) sees it in clear; `query.py` audits each such statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from lakehouse.lib.storage.location import filesystem, is_remote
from lakehouse.serving.sandbox import lock_down
from lakehouse.serving.views import CLEAR_PII
from lakehouse.settings import Settings

READ_ONLY = {"access_mode": "READ_ONLY"}
IN_MEMORY = ":memory:"


class ServingCatalog(DuckDBResource):
    """The DuckDB catalog of views over the Delta tables (`database`), opened read-only."""

    connection_config: dict[str, Any] = Field(
        default=READ_ONLY, description="DuckDB options at connect: read-only, for readers."
    )
    tables_uri: str | None = Field(
        default=None,
        description="Where the Delta tables are (a folder or `s3://bucket/prefix`), the only place "
        "readers may read; default: `tables` next to the catalog, as in the data folder.",
    )
    also_readable: list[str] = Field(
        default=[],
        description="Other table folders readers may read: an environment's, the main tables it links to.",
    )
    memory_limit: str = Field(default=Settings.sql_memory_limit, description="A reader's memory limit.")
    threads: int = Field(default=Settings.sql_threads, description="A reader's thread limit.")
    statement_timeout_seconds: float = Field(
        default=Settings.sql_timeout_seconds, description="How long one ad-hoc statement may run."
    )
    clear_pii_purpose: str | None = Field(
        default=None,
        description="Privileged: why this reader needs direct PII in clear (audited); None: masked.",
    )
    storage_version: str = Field(
        default=Settings.catalog_storage_version,
        description="The DuckDB storage compatibility version a published catalog is written in: "
        "the oldest DuckDB release whose clients can open it.",
    )

    @classmethod
    def from_settings(cls, settings: Settings, also_readable: tuple[Path, ...] = ()) -> ServingCatalog:
        """The catalog of `settings`, with its sandbox's folders and limits."""
        return cls(
            database=str(settings.catalog_path),
            tables_uri=settings.tables_uri,
            also_readable=[str(p) for p in (*also_readable, *_linked(settings))],
            memory_limit=settings.sql_memory_limit,
            threads=settings.sql_threads,
            statement_timeout_seconds=settings.sql_timeout_seconds,
            clear_pii_purpose=settings.pii_clear_purpose,
            storage_version=settings.catalog_storage_version,
        )

    @classmethod
    def of(cls, catalog: Path | ServingCatalog) -> ServingCatalog:
        """`catalog` itself, or the catalog at that path with the default settings."""
        return catalog if isinstance(catalog, ServingCatalog) else cls(database=str(catalog))

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A configured connection, closed on leaving even on an error (DuckDB caches an open
        database by path, so a leaked connection would keep serving the old catalog)."""
        with super().get_connection() as con, con:
            self.configure(con)
            yield con

    def configure(self, con: duckdb.DuckDBPyConnection) -> None:
        """The settings of every connection, applied once it is open; a reader's then locked in
        the sandbox. The writer reads any table's files to build the views: it is not sandboxed,
        and only ever runs the lakehouse's own SQL."""
        con.execute("SET TimeZone = 'UTC'")  # not a connect option: it needs the ICU extension loaded
        # Parquet footers read once per connection, not per query (a file never changes in place).
        con.execute("SET parquet_metadata_cache = true")
        if is_remote(self.readable_root):
            # DuckDB reads the object store through s3fs (its httpfs extension is not installed
            # here, and is never downloaded at run time); s3fs takes the AWS variables.
            con.register_filesystem(filesystem(self.readable_root))
        if self.connection_config.get("access_mode") == READ_ONLY["access_mode"]:
            lock_down(con, [self.readable_root, *self.also_readable], self.memory_limit, self.threads)
            if self.clear_pii_purpose:
                con.execute(f"SET VARIABLE {CLEAR_PII} = true")

    @property
    def readable_root(self) -> str:
        """Where the tables are: the only place a reader may read."""
        return self.tables_uri or str(Path(self.database).parent / "tables")

    def writable(self, database: Path | str) -> ServingCatalog:
        """The same settings, read-write, on another database: a catalog being built, or
        `:memory:` for a step's own views. Never the published file, which readers hold.

        A new database file is written in `storage_version`'s format, so every publish (which
        always builds a new file) also rewrites a catalog left in a newer format."""
        if Path(database) == Path(self.database):
            raise ValueError(f"{self.database} is published: build a new catalog and swap it in")
        config = {name: value for name, value in self.connection_config.items() if name != "access_mode"}
        config["storage_compatibility_version"] = self.storage_version
        return ServingCatalog(
            database=str(database),
            connection_config=config,
            tables_uri=self.tables_uri,
            memory_limit=self.memory_limit,
            threads=self.threads,
            statement_timeout_seconds=self.statement_timeout_seconds,
            storage_version=self.storage_version,
        )


def _linked(settings: Settings) -> tuple[Path, ...]:
    """An environment's link to the main tables, which its readers may read too."""
    return (settings.linked_tables_dir,) if settings.linked_tables_dir else ()
