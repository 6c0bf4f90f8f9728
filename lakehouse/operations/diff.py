"""A data diff of one table between two of its versions, by key: what a change did to the rows.

Rows are matched by the table's key: rows only in the newer version were added, rows only in the
older were removed, and a row in both whose values differ was changed, counted per column, with a
few sample rows showing the values before and after. Bookkeeping columns (`_…`, such as when a row
was built) are left out: a rebuild changes them on every row. For the sales mart, the headline
figure too: net revenue by day, the days whose total moved and the total before and after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from lakehouse.lib.storage import delta_tables

SAMPLE_ROWS = 5
REVENUE_TABLE, REVENUE_DAY, REVENUE = "curated/mart_daily_sales", "order_date", "net_usd"


@dataclass(frozen=True)
class Headline:
    """Net revenue by day before and after: the days that moved, and the totals."""

    days_changed: pl.DataFrame  # day, before, after
    total_before: Decimal
    total_after: Decimal


@dataclass(frozen=True)
class TableDiff:
    table: str
    before: int
    after: int
    added: int
    removed: int
    changed: int
    changed_columns: dict[str, int]  # column -> rows whose value changed
    samples: pl.DataFrame  # key, and each changed column's value before and after (`<col>_after`)
    headline: Headline | None = field(default=None)

    def text(self) -> str:
        lines = [
            f"{self.table.replace('/', '.')} version {self.before} -> {self.after}: "
            f"{self.added:,} rows added, {self.removed:,} removed, {self.changed:,} changed"
        ]
        lines += [f"  {column}: {rows:,} rows changed" for column, rows in self.changed_columns.items()]
        if not self.samples.is_empty():
            lines.append(f"  sample rows (before, after):\n{self.samples}")
        if self.headline is not None:
            moved = self.headline.days_changed
            lines.append(
                f"  net revenue: {self.headline.total_before} -> {self.headline.total_after}, "
                f"{moved.height} days changed" + (f"\n{moved.head(SAMPLE_ROWS)}" if moved.height else "")
            )
        return "\n".join(lines)


def compared_columns(old: pl.LazyFrame, new: pl.LazyFrame, key: Sequence[str]) -> list[str]:
    """The columns both versions hold, but the key and the bookkeeping ones."""
    before = old.collect_schema().names()
    after = set(new.collect_schema().names())
    return [c for c in before if c in after and c not in key and not c.startswith("_")]


def diff(
    uri: str,
    table: str,
    key: Sequence[str],
    before: int,
    after: int | None = None,
    renames: Mapping[str, str] | None = None,
) -> TableDiff:
    """The diff of the table at `uri` from version `before` to `after` (default: the newest), by `key`."""
    after = delta_tables.version(uri) if after is None else after
    old, new = delta_tables.scan(uri, before), delta_tables.scan(uri, after)
    return compare(old, new, table, key, before, after, renames)


def compare(
    old: pl.LazyFrame,
    new: pl.LazyFrame,
    table: str,
    key: Sequence[str],
    before: int,
    after: int,
    renames: Mapping[str, str] | None = None,
) -> TableDiff:
    """The diff from the rows `old` (version `before`) to `new` (version `after`), by `key`; a
    column renamed since (`renames`, old -> new) is compared under its new name."""
    held = old.collect_schema().names()
    old = old.rename({o: n for o, n in (renames or {}).items() if o in held and n not in held})
    keys = list(key)
    columns = compared_columns(old, new, keys)
    added = new.join(old, on=keys, how="anti", nulls_equal=True).select(pl.len()).collect().item()
    removed = old.join(new, on=keys, how="anti", nulls_equal=True).select(pl.len()).collect().item()
    both = old.select(*keys, *columns).join(
        new.select(*keys, *columns), on=keys, how="inner", suffix="_after", nulls_equal=True
    )
    differs = {c: pl.col(c).ne_missing(pl.col(f"{c}_after")) for c in columns}
    flagged = both.with_columns(**{f"{c}_differs": d for c, d in differs.items()})
    any_change = pl.any_horizontal([pl.col(f"{c}_differs") for c in columns]) if columns else pl.lit(False)
    counts = flagged.select(
        any_change.sum().alias("_rows"), *(pl.col(f"{c}_differs").sum().alias(c) for c in columns)
    ).collect()
    changed_columns = {c: counts.item(0, c) for c in columns if counts.item(0, c)}
    samples = (
        flagged.filter(any_change)
        .select(*keys, *(x for c in changed_columns for x in (c, f"{c}_after")))
        .head(SAMPLE_ROWS)
        .collect()
    )
    headline = revenue_by_day(old, new) if table == REVENUE_TABLE else None
    return TableDiff(
        table, before, after, added, removed, counts.item(0, "_rows") or 0, changed_columns, samples, headline
    )


def revenue_by_day(old: pl.LazyFrame, new: pl.LazyFrame) -> Headline:
    """The sales mart's headline: net revenue by day, before and after."""

    def by_day(rows: pl.LazyFrame) -> pl.LazyFrame:
        return rows.group_by(REVENUE_DAY).agg(pl.col(REVENUE).sum())

    days = (
        by_day(old)
        .join(by_day(new), on=REVENUE_DAY, how="full", coalesce=True, suffix="_after")
        .rename({REVENUE: "before", f"{REVENUE}_after": "after"})
        .filter(pl.col("before").ne_missing(pl.col("after")))
        .sort(REVENUE_DAY)
        .collect()
    )
    totals = [rows.select(pl.col(REVENUE).sum()).collect().item() for rows in (old, new)]
    return Headline(days, totals[0] or Decimal(0), totals[1] or Decimal(0))
