"""Temporary spec changes for the change-management tests: the code's declared tables with some
overridden (`dataclasses.replace`), never by editing source files."""

from dataclasses import replace

from lakehouse.lib.storage.migrations import Declared
from lakehouse.operations.plan import DeclaredTable, declared_tables
from lakehouse.settings import Settings


def declared(settings: Settings) -> dict[str, DeclaredTable]:
    from lakehouse.definitions import build_definitions

    return {t.key: t for t in declared_tables(build_definitions(settings))}


def renamed(table: DeclaredTable, old: str, new: str) -> DeclaredTable:
    """The table with column `old` declared as `new`, in its place, by a declared rename."""
    columns = {new if name == old else name: dtype for name, dtype in table.columns.items()}
    migrations = Declared({**table.migrations.renames, old: new}, table.migrations.casts)
    return replace(table, columns=columns, migrations=migrations)


def retyped(table: DeclaredTable, column: str, dtype: str, declared_cast: bool = True) -> DeclaredTable:
    casts = {**table.migrations.casts, column: dtype} if declared_cast else table.migrations.casts
    return replace(
        table, columns={**table.columns, column: dtype}, migrations=Declared(table.migrations.renames, casts)
    )


def with_column(table: DeclaredTable, column: str, dtype: str) -> DeclaredTable:
    """The table with a new column declared after its business columns (before the `_` ones)."""
    business = {c: t for c, t in table.columns.items() if not c.startswith("_")}
    bookkeeping = {c: t for c, t in table.columns.items() if c.startswith("_")}
    return replace(table, columns={**business, column: dtype, **bookkeeping})
