"""What a declared source is: the fields of a `defs.yaml` under `lakehouse/defs/sources/`, checked.

The component types (`lakehouse.components`: `LandingFileSet`, `DatabaseTable`) are these models:
a file set gets its raw asset, its sensor (or schedule) and, when it names a contract, its refined
asset, with the same exactly-once, quarantine and metadata behaviour as every other source (see
README, "Adding a source"). A mistake is an error naming the source and the field or column,
raised when the definitions load, not in the middle of a run.
"""

from __future__ import annotations

import codecs
from difflib import get_close_matches
from typing import Literal

import polars as pl
import pydantic

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
    """A declaration: unknown fields are errors. Fields are plain types (lists, not tuples) and
    nested models' rules are validators (not `Field` constraints): the component types resolve
    these models from YAML with `dg.Resolvable`, which accepts no other."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class CsvOptions(_Strict):
    delimiter: str = ","
    header: bool = True  # False: the file has no header line; `columns` name the fields in order

    @pydantic.field_validator("delimiter")
    @classmethod
    def _one_character(cls, delimiter: str) -> str:
        if len(delimiter) != 1:
            raise ValueError(f"a delimiter is one character, not {delimiter!r}")
        return delimiter


class ColumnRule(_Strict):
    """One column of an inline contract: its type, whether it may be null, its allowed values."""

    type: ColumnType
    description: str
    nullable: bool = True
    min: int | float | None = None
    max: int | float | None = None
    allowed: list[str] | None = None  # for text: the only values accepted
    trim: bool = True  # for text: leading and trailing white space removed (false: kept as sent)

    @property
    def dtype(self) -> pl.DataType:
        return POLARS_TYPES[self.type]

    @pydantic.model_validator(mode="after")
    def _trim_is_for_text(self) -> ColumnRule:
        if not self.trim and self.type != "text":
            raise ValueError(f"trim: false is for text columns, not {self.type} (parsed from trimmed text)")
        return self


class InlineContract(_Strict):
    """A refined table declared without Python: rows breaking a rule go to quarantine (severity drop)."""

    description: str
    sequence: str  # the column that orders two versions of one key (the newest wins)
    columns: dict[str, ColumnRule]


class Source(_Strict):
    """What every declared source has: a name, a description, a key, when it runs, its refined table."""

    name: str  # the source's tables are `raw/<name>` (and `refined/<name>`, `quarantine/<name>`)
    description: str
    primary_key: list[str]
    schedule: str | None = None  # a cron expression: its own schedule (besides the daily build)
    refine: str | None = None  # a built-in refined table (Python transform) of the source's name, or
    contract: InlineContract | None = None  # a refined table declared here
    # Columns holding personal data, as extracted: `direct` (an email, a name: masked when served,
    # no Delta statistics) or `indirect` (an id that leads to a person).
    pii: dict[str, Literal["direct", "indirect"]] = {}

    @property
    def direct_pii(self) -> tuple[str, ...]:
        return tuple(column for column, kind in self.pii.items() if kind == "direct")

    def declared_columns(self) -> list[str] | None:
        """The columns the source declares (None: it does not name them)."""
        raise NotImplementedError

    @pydantic.model_validator(mode="after")
    def _keyed_and_refined_consistently(self) -> Source:
        if not self.primary_key:
            raise ValueError(f"{self.name}: primary_key names no column")
        if self.refine and self.contract:
            raise ValueError(f"{self.name}: name either `refine` (built-in) or `contract` (inline), not both")
        if self.contract:
            declared = set(self.contract.columns)
            missing = [c for c in (*self.primary_key, self.contract.sequence) if c not in declared]
            if missing:
                raise ValueError(
                    f"{self.name}: contract lacks the key/sequence column(s) {', '.join(missing)}"
                )
            self._check_known("contract column", list(self.contract.columns))
        if self.pii:
            self._check_known("pii column", list(self.pii))
        return self

    def _check_known(self, what: str, named: list[str]) -> None:
        """Each of `named` is a column the source declares; else an error naming it (a misspelling too)."""
        declared = self.declared_columns()
        if declared is None:
            raise ValueError(f"{self.name}: a {what} needs the source's `columns` to check it against")
        for column in named:
            if column not in declared:
                close = get_close_matches(column, declared, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(
                    f"{self.name}: {what} {column} is not a column of the source{hint}; "
                    f"it declares {', '.join(declared)}"
                )


class FileSource(Source):
    """A set of files in the landing zone, ingested file by file, each exactly once."""

    location: str  # folder under the landing zone
    pattern: str  # glob of the data files in it
    format: Literal["csv", "jsonl", "parquet"]
    csv: CsvOptions = CsvOptions()
    # The text encoding of csv / jsonl files (a Python codec name: utf-8, latin-1, cp1252, ...); a
    # file with bytes that do not decode is quarantined whole (rule `encoding`), never patched.
    encoding: str = "utf-8"
    # A file re-sent under a name already ingested, with other content: a new version that corrects
    # the earlier one's rows by key (reported), or that is quarantined whole for review.
    on_changed_file: Literal["correct", "quarantine"] = "correct"
    # csv / jsonl: the fields read (as text), in file order; parquet: the columns every file has
    # (a file lacking one is quarantined whole), the others are kept as they come.
    columns: list[str] | None = None
    # parquet: columns a file may lack (e.g. added from some day on: null before), for the contract.
    optional_columns: list[str] = []
    # When a file is complete: at once (written by rename), when `<file><done_suffix>` exists, or
    # when it has not changed for `stable_seconds`.
    ready: Literal["on_arrival", "done_marker", "stable"] = "on_arrival"
    done_suffix: str = ".done"
    stable_seconds: int = pydantic.Field(60, ge=1)
    sensor_seconds: int | None = 30  # at least 5; None: no sensor (schedule or daily build)

    def declared_columns(self) -> list[str] | None:
        return None if self.columns is None else [*self.columns, *self.optional_columns]

    @pydantic.model_validator(mode="after")
    def _readable(self) -> FileSource:
        if self.format in ("csv", "jsonl") and not self.columns:
            raise ValueError(
                f"{self.name}: format {self.format} needs `columns` (the fields to read, in file order)"
            )
        if self.sensor_seconds is not None and self.sensor_seconds < 5:
            raise ValueError(f"{self.name}: sensor_seconds is at least 5 (or null: no sensor)")
        if self.optional_columns and self.format != "parquet":
            raise ValueError(
                f"{self.name}: `optional_columns` is for parquet ({self.format} reads `columns`)"
            )
        if self.columns is not None:
            self._check_known("key column", self.primary_key)
        self._check_encoding()
        return self

    def _check_encoding(self) -> None:
        """A known codec; other than UTF-8 only for CSV (JSON text is UTF-8 by definition)."""
        try:
            codec = codecs.lookup(self.encoding).name
        except LookupError:
            unknown = f"{self.name}: encoding {self.encoding!r} is not a known text encoding"
            raise ValueError(unknown) from None
        if codec != "utf-8" and self.format != "csv":
            raise ValueError(f"{self.name}: encoding {self.encoding} is for csv ({self.format} is UTF-8)")


class TableSource(Source):
    """A table of the shop database (named as the source), extracted incrementally by its watermark."""

    columns: dict[str, Literal["integer", "real", "text"]]  # as extracted, in this order
    watermark: str = "updated_at"  # fixed-width UTC text: `2025-01-01T06:00:00.000000Z`
    overlap_minutes: int = pydantic.Field(10, ge=0)  # re-read before the watermark: late commits
    deleted: str | None = None  # the column a soft delete sets (and a found hard delete too)
    reconcile_keys: bool = False  # find hard deletes by comparing the source's keys with raw's

    def declared_columns(self) -> list[str]:
        return list(self.columns)

    @pydantic.model_validator(mode="after")
    def _columns_named(self) -> TableSource:
        named = [*self.primary_key, self.watermark, *([self.deleted] if self.deleted else [])]
        missing = [c for c in named if c not in self.columns]
        if missing:
            raise ValueError(
                f"{self.name}: columns lack {', '.join(missing)} (named as key, watermark or deleted)"
            )
        if self.reconcile_keys and not self.deleted:
            raise ValueError(
                f"{self.name}: reconcile_keys needs `deleted`: the column that marks a found deletion"
            )
        return self
