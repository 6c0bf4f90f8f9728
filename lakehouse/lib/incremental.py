"""Incremental curated builds: find the days whose inputs changed, rebuild only those days.

A curated table records, in `_…_refined_at` columns, the newest refinement time it has
incorporated from each input. Rows of an input refined after that (new, updated or replayed from
quarantine) are the changes; the days they touch are rebuilt and replaced as whole slices
(`overwrite_partition`), so the result equals a full rebuild. The first build builds everything.
"""

from datetime import date, datetime

import polars as pl


def watermarks(target: pl.LazyFrame | None, columns: list[str]) -> dict[str, datetime | None] | None:
    """The newest value of each watermark column in the target; None when there is no target."""
    if target is None:
        return None
    return target.select(pl.col(columns).max()).collect().row(0, named=True)


def changed_since(source: pl.LazyFrame, since: datetime | None, column: str = "_refined_at") -> pl.LazyFrame:
    """Rows of a refined input refined (or replayed) after `since` (all rows when it is None)."""
    return source if since is None else source.filter(pl.col(column) > since)


def days(*frames: pl.LazyFrame) -> list[date]:
    """The distinct days in the single column of each frame, sorted."""
    stacked = pl.concat([f.select(pl.first().alias("day")) for f in frames])
    return stacked.unique().sort("day").collect().get_column("day").to_list()


def newest(frame: pl.LazyFrame) -> pl.Expr:
    """A constant column: the newest `_refined_at` of `frame` (a dimension's watermark)."""
    return pl.lit(frame.select(pl.col("_refined_at").max()).collect().item(), pl.Datetime("us", "UTC"))


def unchanged(target: pl.LazyFrame | None, marks: dict[str, object]) -> bool:
    """Whether a table rebuilt whole would not change: it exists and records (in columns named as
    the keys) exactly the inputs' newest watermarks `marks`."""
    return target is not None and watermarks(target, list(marks)) == marks
