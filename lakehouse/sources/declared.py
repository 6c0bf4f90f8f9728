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


class Source(_Strict):
    """What every declared source has: a description, a key, when it runs, and its refined table."""

    description: str
    primary_key: tuple[str, ...]
    schedule: str | None = None  # a cron expression: its own schedule (besides the daily build)
    refine: str | None = None  # a built-in refined table (Python transform) of the source's name, or
    contract: InlineContract | None = None  # a refined table declared here

    @pydantic.model_validator(mode="after")
    def _refined_consistently(self) -> Source:
        if self.refine and self.contract:
            raise ValueError("name either `refine` (built-in) or `contract` (inline), not both")
        if self.contract:
            declared = set(self.contract.columns)
            missing = [c for c in (*self.primary_key, self.contract.sequence) if c not in declared]
            if missing:
                raise ValueError(f"contract lacks the key/sequence column(s) {', '.join(missing)}")
        return self


class FileSource(Source):
    """A set of files in the landing zone, ingested file by file, each exactly once."""

    location: str  # folder under the landing zone
    pattern: str  # glob of the data files in it
    format: Literal["csv", "jsonl", "parquet"]
    csv: CsvOptions = CsvOptions()
    columns: tuple[str, ...] | None = None  # csv / jsonl: the fields read (as text); parquet: all
    # When a file is complete: at once (written by rename), when `<file><done_suffix>` exists, or
    # when it has not changed for `stable_seconds`.
    ready: Literal["on_arrival", "done_marker", "stable"] = "on_arrival"
    done_suffix: str = ".done"
    stable_seconds: int = pydantic.Field(60, ge=1)
    sensor_seconds: int | None = pydantic.Field(30, ge=5)  # None: no sensor (schedule or daily build)

    @pydantic.model_validator(mode="after")
    def _readable(self) -> FileSource:
        if self.format in ("csv", "jsonl") and not self.columns:
            raise ValueError(f"format {self.format} needs `columns` (the fields to read, in file order)")
        return self


class DatabaseTable(Source):
    """A table of the shop database (named as the source), extracted incrementally by its watermark."""

    columns: dict[str, Literal["integer", "real", "text"]]  # as extracted, in this order
    watermark: str = "updated_at"  # fixed-width UTC text: `2025-01-01T06:00:00.000000Z`
    overlap_minutes: int = pydantic.Field(10, ge=0)  # re-read before the watermark: late commits
    deleted: str | None = None  # the column a soft delete sets (and a found hard delete too)
    reconcile_keys: bool = False  # find hard deletes by comparing the source's keys with raw's

    @pydantic.model_validator(mode="after")
    def _columns_named(self) -> DatabaseTable:
        named = [*self.primary_key, self.watermark, *([self.deleted] if self.deleted else [])]
        missing = [c for c in named if c not in self.columns]
        if missing:
            raise ValueError(f"columns lack {', '.join(missing)} (named as key, watermark or deleted)")
        if self.reconcile_keys and not self.deleted:
            raise ValueError("reconcile_keys needs `deleted`: the column that marks a found deletion")
        return self


class Declarations(_Strict):
    database_tables: dict[str, DatabaseTable] = {}
    files: dict[str, FileSource] = {}

    @pydantic.model_validator(mode="after")
    def _names_unique(self) -> Declarations:
        both = sorted(set(self.database_tables) & set(self.files))
        if both:
            raise ValueError(f"{', '.join(both)}: declared both as a database table and as files")
        return self

    def sources(self) -> dict[str, Source]:
        """Every declared source by name (each gets `raw/<name>`)."""
        return {**self.database_tables, **self.files}


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
        problems = "; ".join(_problem(e) for e in error.errors(include_url=False))
        raise SourcesFileError(f"{path}: {problems}") from error


def _problem(error: dict) -> str:
    """`files.returns.format: Input should be …`: where in the file, then what is wrong."""
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


@cache
def declarations() -> Declarations:
    """The project's declarations, from `lakehouse/sources.yaml`."""
    return load_declarations(SOURCES_FILE)
