"""Slowly changing dimensions, type 2: each key's versions rebuilt from its change events.

A write brings change events for some keys: rows with the key, a sequence (the source's change
time), the tracked columns (a change in them starts a new version), the other columns (type 1: every
version of a key shows the key's newest value) and `_deleted` (the key was deleted at that time). For
the keys it touches, the versions already stored are turned back into the events they were built
from, the new events join them, and the history is rebuilt. Each stored version keeps the events
it absorbed (`_changes`, a list of structs), so the rebuild is exact: a late or out-of-order change lands
where its time puts it, a repeated change changes nothing, and re-running a batch gives the same
table. A version is valid from its first change until the next version. A deletion is a version
too (`is_deleted`, tracked columns null), so that history stays exact whatever order a deletion
and the changes around it arrive in; the current version of a deleted key is its deletion.
"""

from collections.abc import Sequence

import polars as pl

from lakehouse.lib.columns import CHANGES

VALID_FROM, VALID_TO, IS_CURRENT, IS_DELETED = "valid_from", "valid_to", "is_current", "is_deleted"
DELETED = "_deleted"


def versions(
    events: pl.DataFrame, keys: Sequence[str], tracked: Sequence[str], sequence: str, surrogate: str
) -> pl.DataFrame:
    """The versions of every key in `events` (surrogate left null: the writer assigns new ones)."""
    keys, state = list(keys), [*tracked, DELETED]
    events = _with_deleted(events)
    others = [c for c in events.columns if c not in {*keys, *state, sequence}]
    ordered = (
        events.unique(subset=[*keys, sequence], keep="last", maintain_order=True)
        .sort([*keys, sequence], maintain_order=True)
        .with_columns(pl.struct(c for c in events.columns if c not in keys).alias(CHANGES))
        .with_columns(pl.col(c).filter(~pl.col(DELETED)).last().over(keys) for c in others)
        .with_columns(pl.when(~pl.col(DELETED)).then(pl.col(c)).alias(c) for c in tracked)
    )
    starts = pl.any_horizontal(pl.col(c).ne_missing(pl.col(c).shift(1)).over(keys) for c in state)
    first = pl.int_range(pl.len()).over(keys) == 0
    grouped = ordered.with_columns((first | starts).cum_sum().alias("_version"))
    rebuilt = (
        grouped.group_by([*keys, "_version"], maintain_order=True)
        .agg(
            pl.col(sequence).first().alias(VALID_FROM),
            pl.col(CHANGES),
            *(pl.col(c).first() for c in state),
            *(pl.col(c).first() for c in others),
        )
        .with_columns(pl.col(VALID_FROM).shift(-1).over(keys).alias(VALID_TO))
    )
    return rebuilt.with_columns(
        pl.col(VALID_TO).is_null().alias(IS_CURRENT),
        pl.col(DELETED).alias(IS_DELETED),
        pl.lit(None, pl.Int64).alias(surrogate),
    ).select(surrogate, *keys, *tracked, *others, VALID_FROM, VALID_TO, IS_CURRENT, IS_DELETED, CHANGES)


def stored_events(stored: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The change events stored versions were built from, deletions included."""
    return stored.select(*keys, CHANGES).explode(CHANGES).unnest(CHANGES)


def _with_deleted(events: pl.DataFrame) -> pl.DataFrame:
    if DELETED in events.columns:
        return events.with_columns(pl.col(DELETED).fill_null(False))
    return events.with_columns(pl.lit(False).alias(DELETED))


def surrogate_keys(frame: pl.DataFrame, keys: Sequence[str]) -> pl.Series:
    """A new version's surrogate key: a positive 63-bit hash of its key and start.

    A reserved member, a single negative integer key (Kimball's unknown member -1), keeps its key.
    """
    hashed = (pl.struct([*keys, VALID_FROM]).hash(seed=0) % (2**63 - 1)).cast(pl.Int64)
    if len(keys) == 1 and frame.schema[keys[0]].is_integer():
        hashed = pl.when(pl.col(keys[0]) < 0).then(pl.col(keys[0]).cast(pl.Int64)).otherwise(hashed)
    return frame.select(hashed).to_series()
