"""Versions of a source file by content: a file re-sent under the same name with other bytes is a
new version, never skipped as already ingested (its name alone would say so) nor appended blindly.

A version is known by the SHA-256 of its bytes. The first version of a file lands under the file's
batch id; a later one under `<batch id>@sha256:<digest>`, so that each version is its own batch
(committed once, like any batch) and the registry of versions says which one came last.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

CHUNK_BYTES = 1 << 20
VERSION_MARK = "@sha256:"  # between a file's batch id and a later version's digest


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in chunks (a file may be large)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def version_batch_id(batch_id: str, digest: str) -> str:
    """The batch id of a later version of a file: `landing/payments/x.csv@sha256:<digest>`."""
    return f"{batch_id}{VERSION_MARK}{digest}"


def is_version_of(batch_id: str) -> pl.Expr:
    """Whether `_batch_id` names the file of `batch_id`, in any version."""
    column = pl.col("_batch_id")
    return (column == batch_id) | column.str.starts_with(f"{batch_id}{VERSION_MARK}")


@dataclass(frozen=True)
class VersionChanges:
    """How a new version of a file differs from the one it replaces, row by key."""

    changed: int  # keys in both, with some other value
    added: int  # keys only in the new version
    removed: int  # keys only in the earlier version (kept downstream: reported, not deleted)

    def describe(self) -> str:
        return f"{self.changed} row(s) changed, {self.added} added, {self.removed} removed"


def version_changes(
    earlier: pl.LazyFrame, newer: pl.LazyFrame, keys: Sequence[str], columns: Sequence[str]
) -> VersionChanges:
    """Compare two versions' rows by `keys` over `columns` (the data, not the bookkeeping)."""
    keys, values = list(keys), [c for c in columns if c not in keys]
    before = earlier.select(*keys, *values).unique(keys, keep="last")
    after = newer.select(*keys, *values).unique(keys, keep="last")
    both = after.join(before, on=keys, how="inner", suffix="_before", nulls_equal=True)
    differs = pl.any_horizontal(pl.lit(False), *(pl.col(c).ne_missing(pl.col(f"{c}_before")) for c in values))
    counts = pl.concat(
        [
            both.filter(differs).select(pl.len().alias("changed")),
            after.join(before, on=keys, how="anti", nulls_equal=True).select(pl.len().alias("added")),
            before.join(after, on=keys, how="anti", nulls_equal=True).select(pl.len().alias("removed")),
        ],
        how="horizontal",
    )
    return VersionChanges(**counts.collect().row(0, named=True))
