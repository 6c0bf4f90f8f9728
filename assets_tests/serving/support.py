"""Helpers of the serving tests: read the catalog with DuckDB alone, not through the module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb


def query(catalog_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(catalog_path), read_only=True) as con:
        return con.sql(sql).fetchall()


def column_types(catalog_path: Path, view: str) -> dict[str, str]:
    return {name: type_ for name, type_, *_ in query(catalog_path, f"DESCRIBE {view}")}


DUCKDB_CLI = Path(sys.executable).parent / "duckdb"
"""The DuckDB 1.x command-line client of the dev group (`duckdb-cli` from PyPI)."""


def cli_query(catalog_path: Path, sql: str) -> list[list[str]]:
    """`sql`'s rows as read by the DuckDB 1.x client, opening the catalog read-only."""
    result = subprocess.run(
        [str(DUCKDB_CLI), "-readonly", "-csv", "-noheader", str(catalog_path), "-c", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [line.split(",") for line in result.stdout.splitlines()]
