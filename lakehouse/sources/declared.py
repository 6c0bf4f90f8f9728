"""Sources declared by configuration: `lakehouse/sources.yaml`, read once and checked.

A file set declared there gets its raw asset, its sensor (or schedule) and, when it names a
contract, its refined asset, with the same exactly-once, quarantine and metadata behaviour as every
other source (see README, "Adding a source"). A mistake in the file is an error naming the source
and the field, raised when the definitions load, not in the middle of a run.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import polars as pl
import pydantic
import yaml

SOURCES_FILE = Path(__file__).resolve().parent.parent / "sources.yaml"
# Column types an inline contract may declare (decimal: 18 digits, 2 after the point; timestamp: UTC).
ColumnType = Literal["text", "integer", "decimal", "float", "date", "timestamp", "boolean"]
POLARS_TYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "integer": pl.Int64(),
    "decimal": pl.Decimal(18, 2),
    "float": pl.Float64(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"),
    "boolean": pl.Boolean(),
}


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class CsvOptions(_Strict):
    delimiter: str = pydantic.Field(",", min_length=1, max_length=1)
    header: bool = True  # False: the file has no header line; `columns` name the fields in order


class ColumnRule(_Strict):
    """One column of an inline contract: its type, whether it may be null, its allowed values."""

    type: ColumnType
    description: str
    nullable: bool = True
    min: int | float | None = None
    max: int | float | None = None
    allowed: tuple[str, ...] | None = None  # for text: the only values accepted

    @property
    def dtype(self) -> pl.DataType:
        return POLARS_TYPES[self.type]


class InlineContract(_Strict):
    """A refined table declared without Python: rows breaking a rule go to quarantine (severity drop)."""

    description: str
    sequence: str  # the column that orders two versions of one key (the newest wins)
    columns: dict[str, ColumnRule]


class FileSource(_Strict):
    """A set of files in the landing zone, ingested file by file, each exactly once."""

    kind: Literal["files"] = "files"
    description: str
    location: str  # folder under the landing zone
    pattern: str  # glob of the data files in it
    format: Literal["csv", "jsonl", "parquet"]
    csv: CsvOptions = CsvOptions()
    columns: tuple[str, ...] | None = None  # csv / jsonl: the fields read (as text); parquet: all
    primary_key: tuple[str, ...]
    # When a file is complete: at once (written by rename), when `<file><done_suffix>` exists, or
    # when it has not changed for `stable_seconds`.
    ready: Literal["on_arrival", "done_marker", "stable"] = "on_arrival"
    done_suffix: str = ".done"
    stable_seconds: int = pydantic.Field(60, ge=1)
    sensor_seconds: int | None = pydantic.Field(30, ge=5)  # None: no sensor (schedule or daily build)
    schedule: str | None = None  # a cron expression, instead of (or as well as) the sensor
    refine: str | None = None  # a built-in refined table (Python transform) of that name, or
    contract: InlineContract | None = None  # a refined table declared here

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> FileSource:
        if self.format in ("csv", "jsonl") and not self.columns:
            raise ValueError(f"format {self.format} needs `columns` (the fields to read)")
        if self.format == "csv" and not self.csv.header and not self.columns:
            raise ValueError("a CSV without header needs `columns` in file order")
        if self.refine and self.contract:
            raise ValueError("name either `refine` (built-in) or `contract` (inline), not both")
        if self.contract:
            declared = set(self.contract.columns)
            missing = [c for c in (*self.primary_key, self.contract.sequence) if c not in declared]
            if missing:
                raise ValueError(f"contract lacks the key/sequence column(s) {', '.join(missing)}")
        return self


class Declarations(_Strict):
    files: dict[str, FileSource] = {}


class SourcesFileError(ValueError):
    """`sources.yaml` does not parse or breaks a rule; the message names the source and field."""


def load_declarations(path: Path) -> Declarations:
    """The declarations in `path`, checked; a clear error naming the source and field otherwise."""
    try:
        content = yaml.safe_load(path.read_text()) or {}
        return Declarations.model_validate(content)
    except yaml.YAMLError as error:
        raise SourcesFileError(f"{path}: not valid YAML ({error})") from error
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise SourcesFileError(f"{path}: {problems}") from error


@cache
def declarations() -> Declarations:
    """The project's declarations, from `lakehouse/sources.yaml`."""
    return load_declarations(SOURCES_FILE)
