"""Versions of a source file by content: a file re-sent under the same name with other bytes is a
new version, never skipped as already ingested (its name alone would say so) nor appended blindly.

A version is known by the SHA-256 of its bytes. The first version of a file lands under the file's
batch id; a later one under `<batch id>@sha256:<digest>`, so that each version is its own batch
(committed once, like any batch) and the registry of versions says which one came last.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl

CHUNK_BYTES = 1 << 20
VERSION_MARK = "@sha256:"  # between a file's batch id and a later version's digest


class FileChangedError(OSError):
    """A file's bytes changed between two reads of one ingestion (its check and its rows, or its
    discovery and its check): nothing of it is committed, and a retry reads it afresh."""


@dataclass
class Digest:
    """The SHA-256 of a file's bytes as one reading passes them, and the file's size and
    modification time from the handle that reading opened (of the bytes hashed, not of a look
    at the path before or after: the file may be replaced in between)."""

    hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    seen: os.stat_result | None = None

    def opened(self, stream: BinaryIO, path: Path) -> None:
        self.seen = stat_of(stream, path)

    def update(self, data: bytes) -> None:
        self.hash.update(data)

    def hexdigest(self) -> str:
        return self.hash.hexdigest()

    def check(self, path: Path, expected: str | None) -> None:
        """`FileChangedError` unless the bytes read hash to `expected` (None: nothing to compare)."""
        same_bytes(path, expected, self.hexdigest())


def same_bytes(path: Path, expected: str | None, read: str) -> None:
    """`FileChangedError` unless a reading of the file hashed to the digest `expected` of an
    earlier one (None: nothing to compare)."""
    if expected is not None and read != expected:
        raise FileChangedError(
            f"{path.name} changed while it was ingested (sha256:{expected[:12]}, then "
            f"sha256:{read[:12]}): nothing of it is committed; a retry reads it again"
        )


def stat_of(stream: BinaryIO, path: Path) -> os.stat_result:
    """The open file's status (`os.fstat` of its descriptor); an object store's file has none:
    then its path's."""
    try:
        return os.fstat(stream.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):
        return path.stat()


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    return hashed(path).hexdigest()


def hashed(path: Path) -> Digest:
    """A file's SHA-256 and status from one reading of it, in chunks (a file may be large)."""
    digest = Digest()
    with path.open("rb") as file:
        digest.opened(file, path)
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest


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
