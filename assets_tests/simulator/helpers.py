"""Reading back what the simulator wrote, the way a consumer of the sources would."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import adbc_driver_sqlite.dbapi as sqlite
import polars as pl

from lakehouse.simulator import CLICKSTREAM_DIR, DB_FILE, INVENTORY_DIR, PAYMENTS_DIR, SCHEMAS

POLARS_TYPES = {"INTEGER": pl.Int64, "TEXT": pl.String, "REAL": pl.Float64}
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def read_table(out_dir: Path, table: str) -> pl.DataFrame:
    """A shop table in storage order, typed as declared."""
    schema = {name: POLARS_TYPES[kind] for name, kind in SCHEMAS[table].items()}
    with sqlite.connect(str(out_dir / DB_FILE)) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} ORDER BY rowid")
        return pl.from_arrow(cursor.fetch_arrow_table()).cast(schema)


def read_tables(out_dir: Path) -> dict[str, pl.DataFrame]:
    return {table: read_table(out_dir, table) for table in SCHEMAS}


def sorted_tables(out_dir: Path) -> dict[str, pl.DataFrame]:
    """The tables as multisets of rows: sorted on every column."""
    return {table: frame.sort(pl.all()) for table, frame in read_tables(out_dir).items()}


def payment_files(out_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((out_dir / PAYMENTS_DIR).iterdir())}


def event_files(out_dir: Path) -> dict[str, bytes]:
    """Every clickstream micro-batch file (and anything else in its folders), by relative path."""
    folder = out_dir / CLICKSTREAM_DIR
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def inventory_files(out_dir: Path) -> dict[str, bytes]:
    """Every file of the inventory folder (snapshots, markers, anything else), by name."""
    return {path.name: path.read_bytes() for path in sorted((out_dir / INVENTORY_DIR).iterdir())}


def payment_lines(out_dir: Path) -> pl.DataFrame:
    """Every data line of every settlement file: file, line_number (header = 1), line, fields."""
    frames = [
        pl.DataFrame({"line": content.decode().splitlines()[1:]}).with_columns(
            file=pl.lit(name), line_number=pl.int_range(2, pl.len() + 2)
        )
        for name, content in payment_files(out_dir).items()
    ]
    return pl.concat(frames).with_columns(fields=pl.col("line").str.split(","))


def sources_digest(out_dir: Path) -> str:
    """One SHA-256 over everything a simulation wrote: the landing files byte for byte, the ground
    truth files, and the shop tables' rows in storage order. Not the simulator's own carry state
    (`carry-<days>/`): neither a source nor the truth."""
    digest = hashlib.sha256()
    files = sorted(
        path
        for path in out_dir.rglob("*")
        if path.is_file()
        and path.name != DB_FILE
        and not path.relative_to(out_dir).parts[0].startswith("carry-")
    )
    for path in files:
        digest.update(str(path.relative_to(out_dir)).encode() + b"\0" + path.read_bytes())
    for table, frame in read_tables(out_dir).items():
        digest.update(table.encode() + b"\0")
        frame.write_csv(buffer := io.BytesIO())
        digest.update(buffer.getvalue())
    return digest.hexdigest()
