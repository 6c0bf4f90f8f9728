"""Helpers of the serving tests: read the catalog with DuckDB alone, not through the module."""

from __future__ import annotations

from pathlib import Path

import duckdb


def query(catalog_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(catalog_path), read_only=True) as con:
        return con.sql(sql).fetchall()


def column_types(catalog_path: Path, view: str) -> dict[str, str]:
    return {name: type_ for name, type_, *_ in query(catalog_path, f"DESCRIBE {view}")}
