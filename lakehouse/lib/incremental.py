"""Incremental curated builds: find the days whose inputs changed, rebuild only those days.

A curated table records, in `_…_refined_at` columns, the newest refinement time it has
incorporated from each input. Rows of an input refined after that (new, updated or replayed from
quarantine) are the changes; the days they touch are rebuilt and replaced as whole slices
(`overwrite_partition`), so the result equals a full rebuild. The first build builds everything.
"""

from collections.abc import Callable, Sequence
from datetime import date, datetime

import polars as pl

from lakehouse.lib.storage.reads import PinnedTable
from lakehouse.lib.storage.row_batches import Reread, RowBatches
from lakehouse.lib.storage.scd2 import CHANGES, IS_DELETED, VALID_FROM
from lakehouse.lib.storage.snapshots import one_read

# A table built incrementally, as the step reads it (a pin: the watermarks come from its log's
# statistics), or rows as a test gives them.
Target = PinnedTable | pl.LazyFrame


def watermarks(target: Target | None, columns: list[str]) -> dict[str, datetime | None] | None:
    """The newest value of each watermark column in the target; None when there is no target.

    Of a pinned table, from its log's statistics: only the files reaching each newest value are
    read (`PinnedTable.newest`), not whole columns (a fact's five watermarks were 30M rows each
    at scale 10, read every run)."""
    if isinstance(target, PinnedTable):
        if not target.exists:
            return None
        with one_read():
            return {column: target.newest(column) for column in columns}
    if target is None:
        return None
    return target.select(pl.col(columns).max()).collect(engine="streaming").row(0, named=True)


def rows_of(target: Target | None) -> pl.LazyFrame | None:
    """The target's rows (None when there is no target)."""
    return target.scan_or_none() if isinstance(target, PinnedTable) else target


def changed_since(source: pl.LazyFrame, since: datetime | None, column: str = "_refined_at") -> pl.LazyFrame:
    """Rows of a refined input refined (or replayed) after `since` (all rows when it is None)."""
    return source if since is None else source.filter(pl.col(column) > since)


def days(*frames: pl.LazyFrame) -> list[date]:
    """The distinct days in the single column of each frame, sorted. Collected by the streaming
    engine: a frame may join a whole table (every snapshot row to the changed products, say), and
    memory then follows the distinct days, not the table."""
    stacked = pl.concat([f.select(pl.first().alias("day")) for f in frames])
    return stacked.unique().sort("day").collect(engine="streaming").get_column("day").to_list()


def one_of(column: str, values: Sequence[object] | pl.Series) -> pl.Expr:
    """Rows whose `column` is one of `values` (days, keys); their range too, which lets a scan skip
    a table's other files by their statistics (a list of values alone does not)."""
    chosen = pl.Series(values) if not isinstance(values, pl.Series) else values
    of_values = pl.col(column).is_in(chosen.implode())
    if chosen.is_empty():
        return of_values
    return of_values & pl.col(column).is_between(chosen.min(), chosen.max())


def day_batches(
    build: Callable[[list[date]], pl.LazyFrame], chosen: list[date], rows_per_day: float, batch_rows: int
) -> RowBatches:
    """The rows of the `chosen` days, computed a few days at a time: `build(days)` plans the rows
    of some days, collected for as many days as make about `batch_rows` rows (by `rows_per_day`,
    from the source), so a full build's memory follows the batch, not the history. Batches come
    in day order: a plan sorted by day first gives its rows in the same order as one plan."""
    per_batch = max(1, int(batch_rows // max(rows_per_day, 1)))
    batches = [chosen[i : i + per_batch] for i in range(0, len(chosen), per_batch)] or [[]]
    schema = build(batches[0]).collect_schema()
    return RowBatches(
        schema, Reread(lambda: (build(b).collect(engine="streaming") for b in batches)), source_batches=[]
    )


def newest(frame: pl.LazyFrame) -> pl.Expr:
    """A constant column: the newest `_refined_at` of `frame` (a dimension's watermark)."""
    return pl.lit(frame.select(pl.col("_refined_at").max()).collect().item(), pl.Datetime("us", "UTC"))


def unchanged(target: Target | None, marks: dict[str, object]) -> bool:
    """Whether a table rebuilt whole would not change: it exists and records (in columns named as
    the keys) exactly the inputs' newest watermarks `marks`."""
    return target is not None and watermarks(target, list(marks)) == marks


# A changed member's facts rebuilt from this time on (null: all of them), see `changed_members`.
REBUILD_FROM = "_rebuild_from"


def changed_members(dim: pl.LazyFrame, since: datetime | None, business_key: str) -> pl.LazyFrame:
    """Members of an SCD2 dimension with change events refined after `since`, and from when their
    facts may point to another version (`REBUILD_FROM`).

    A change event at time t can start, move or merge only versions from t on, so a fact before t
    keeps its version: only the member's facts from its earliest new event on are rebuilt, never all
    its history. Except when that event starts the member's first live version (a new member, or a
    change dated before its known history): a fact older than the first version takes that version
    (see `keys.lookup_version`), so all the member's facts are rebuilt (null).
    Every version of a changed member carries its newest `_refined_at` (a type 1 column), so the
    versions refined after `since` are all of each changed member's.
    """
    versions = changed_since(dim, since).filter(pl.col(business_key) >= 0)  # not the unknown member
    first_live = pl.col(VALID_FROM).filter(~pl.col(IS_DELETED)).min().over(business_key)
    events = (
        versions.select(business_key, first_live.alias("_first"), CHANGES)
        .explode(CHANGES)
        .select(business_key, "_first", pl.col(CHANGES).struct.field("updated_at", "_refined_at"))
    )
    new = events if since is None else events.filter(pl.col("_refined_at") > since)
    earliest = new.group_by(business_key).agg(pl.col("updated_at").min(), pl.col("_first").first())
    start = pl.when(pl.col("updated_at") > pl.col("_first")).then(pl.col("updated_at"))
    # Collected once (a day's changed members are few): each caller asks them several times.
    return earliest.select(business_key, start.alias(REBUILD_FROM)).collect().lazy()


def affected(rows: pl.LazyFrame, members: pl.LazyFrame, business_key: str, at: pl.Expr) -> pl.LazyFrame:
    """The `rows` (facts, or their sources) of changed `members` whose time `at` is from their
    `REBUILD_FROM` on: those that may point to another version of their member now."""
    joined = rows.join(members, on=business_key, how="inner")
    return joined.filter(pl.col(REBUILD_FROM).is_null() | (at >= pl.col(REBUILD_FROM))).drop(REBUILD_FROM)
