"""Does an incrementally built lakehouse hold what a full rebuild of the same sources holds?

Each curated table of one lakehouse is compared with the same table of the other by its key: its
columns but the bookkeeping ones (`_…`: build times and watermarks differ by construction), its
row count, and every row's values (`diff.compare`). The incremental-build tests and the
benchmark's `--verify` both ask this; a difference is told as what a user would look for first:
which table, rows only in one of them, rows whose values differ and in which columns.

One difference is explained, not failed: history the sources no longer hold. A rebuild sees only
the source's current rows, so a member of an SCD2 dimension that the incremental build saw earlier
than the source now shows (a customer seen alive, then soft-deleted: the deletion moves its
`updated_at`) starts later in the rebuild. Its versions then differ in `valid_from`, hence in
surrogate key, and so do the fact rows pointing to them. Such a member is explained when its
current version is the same in both builds and the rebuild starts it later; the fact rows pointing
to its versions when they are the same but for that key. Anything else still fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import polars as pl

from lakehouse.defs.curated.dictionary import curated_specs
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage import delta_tables, location
from lakehouse.lib.storage.scd2 import VALID_FROM
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec
from lakehouse.operations.diff import compare

SAMPLE_MEMBERS = 5


@dataclass(frozen=True)
class Verification:
    """The curated tables that differ (a failure each), and those whose only difference is history
    the sources no longer hold (told, not failed)."""

    differences: dict[str, str]
    explained: dict[str, str]


@dataclass(frozen=True)
class UnseenHistory:
    """Members of an SCD2 dimension whose earlier history only the incremental build saw."""

    dimension: TableSpec
    members: pl.DataFrame  # their business keys
    versions: pl.DataFrame  # the surrogate key of each of their versions, in either build, and its member

    def explanation(self) -> str:
        keys = ", ".join(self.members.columns)
        rows = self.members.head(SAMPLE_MEMBERS).rows()
        shown = ", ".join(str(row[0]) if len(row) == 1 else str(row) for row in rows)
        more = ", …" if self.members.height > SAMPLE_MEMBERS else ""
        return (
            f"{self.dimension.table_name}: {self.members.height:,} member(s) ({keys} {shown}{more}) start "
            "later in the rebuild, their versions otherwise the same: the sources no longer hold the "
            "history the incremental build saw (a rebuild sees only current rows)"
        )


def table_uri(tables_uri: str, spec: TableSpec) -> str:
    return location.join(tables_uri, *spec.asset_key.path)


def verify(built_tables: str, rebuilt_tables: str) -> Verification:
    """Every curated table that differs between the two lakehouses, with what differs."""
    specs = curated_specs()
    unseen = {
        found.dimension.asset_key: found
        for spec in specs
        if (found := unseen_history(built_tables, rebuilt_tables, spec)) is not None
    }
    differences, explained = {}, {}
    for spec in specs:
        told = explained_rows(built_tables, rebuilt_tables, spec, unseen)
        if told is not None:
            explained[spec.table_name] = told.text
        found = difference(built_tables, rebuilt_tables, spec, None if told is None else told.rows)
        if found is not None:
            differences[spec.table_name] = found
    return Verification(differences, explained)


def unseen_history(built_tables: str, rebuilt_tables: str, spec: TableSpec) -> UnseenHistory | None:
    """The members of an SCD2 dimension the rebuild starts later than the incremental build did,
    their versions otherwise the same (by `valid_to`, attributes, current and deleted flags); None
    for another table, or when there is none."""
    write = WriteSpec.from_metadata(spec.write) if spec.write else None
    if write is None or write.mode is not WriteMode.SCD2 or write.surrogate_key is None:
        return None
    built, rebuilt = (delta_tables.scan(table_uri(t, spec)) for t in (built_tables, rebuilt_tables))
    keys, surrogate = list(write.keys), str(write.surrogate_key)
    first = [frame.group_by(keys).agg(pl.col(VALID_FROM).min()) for frame in (built, rebuilt)]
    later = (
        first[0]
        .join(first[1], on=keys, suffix="_rebuilt")
        .filter(pl.col(VALID_FROM) < pl.col(f"{VALID_FROM}_rebuilt"))
        .select(keys)
    )
    # a version's start is the previous one's end: all but the first start are compared by `valid_to`
    history = [
        _data(frame.join(later, on=keys, how="semi")).drop(VALID_FROM, surrogate)
        for frame in (built, rebuilt)
    ]
    columns = history[0].collect_schema().names()
    differing = pl.concat(
        [
            history[0].join(history[1], on=columns, how="anti", nulls_equal=True).select(keys),
            history[1].join(history[0], on=columns, how="anti", nulls_equal=True).select(keys),
        ]
    )
    members = later.join(differing, on=keys, how="anti").collect()
    if members.is_empty():
        return None
    versions = pl.concat([frame.join(members.lazy(), on=keys, how="semi") for frame in (built, rebuilt)])
    return UnseenHistory(spec, members, versions.select(surrogate, *keys).unique().collect())


def difference(
    built_tables: str, rebuilt_tables: str, spec: TableSpec, explained: pl.Expr | None = None
) -> str | None:
    """None when the built lakehouse's table equals the rebuilt one's; else what differs. Rows
    `explained` (a filter) are left out of the comparison."""
    built = delta_tables.scan(table_uri(built_tables, spec))
    rebuilt = delta_tables.scan(table_uri(rebuilt_tables, spec))
    built_schema, rebuilt_schema = _data_schema(built), _data_schema(rebuilt)
    if built_schema != rebuilt_schema:
        return f"{spec.table_name}: columns differ: built {built_schema}, rebuilt {rebuilt_schema}"
    if explained is not None:
        built, rebuilt = (frame.filter(~explained) for frame in (built, rebuilt))
    rows = [frame.select(pl.len()).collect().item() for frame in (built, rebuilt)]
    diff = compare(rebuilt, built, spec.table_name, spec.key, 0, 0)
    if rows[0] == rows[1] and not (diff.added or diff.removed or diff.changed):
        return None
    lines = [
        f"{spec.table_name}: {rows[0]:,} rows built incrementally, {rows[1]:,} rebuilt; by key "
        f"{', '.join(spec.key)}: {diff.added:,} only in the incremental build, {diff.removed:,} only in "
        f"the rebuild, {diff.changed:,} with other values"
    ]
    lines += [f"  {column}: {count:,} rows differ" for column, count in diff.changed_columns.items()]
    if not diff.samples.is_empty():
        lines.append(f"  sample rows (rebuilt, then `_after`: built incrementally):\n{diff.samples}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Explained:
    rows: pl.Expr  # a filter: the rows whose difference is explained, in either build
    text: str


def explained_rows(
    built_tables: str, rebuilt_tables: str, spec: TableSpec, unseen: dict[dg.AssetKey, UnseenHistory]
) -> Explained | None:
    """The rows of `spec`'s table that differ only for members' unseen history: the members' own
    versions, or rows pointing to their versions that are the same once each such key is read as
    the member it names (so a row pointing to another member still differs)."""
    found = unseen.get(spec.asset_key)
    if found is not None:
        members = pl.struct(found.members.columns).is_in(found.members.to_struct().implode())
        return Explained(members, found.explanation())
    pointers = {c: unseen[t] for c, (t, _) in spec.references.items() if t in unseen}
    if not pointers:
        return None
    pointing = pl.any_horizontal(
        pl.col(c).is_in(u.versions.to_series(0).implode()) for c, u in pointers.items()
    )
    scans = (delta_tables.scan(table_uri(t, spec)) for t in (built_tables, rebuilt_tables))
    rows = [
        _by_member(_data(frame.filter(pointing)), pointers).collect().sort(pl.all(), nulls_last=True)
        for frame in scans
    ]
    if not (rows[0].height and rows[0].equals(rows[1])):
        return None
    dimensions = ", ".join(sorted({u.dimension.table_name for u in pointers.values()}))
    text = (
        f"{spec.table_name}: {rows[0].height:,} row(s) point to the members above ({dimensions}), "
        f"the same once {', '.join(pointers)} is read as the member it names"
    )
    return Explained(pointing, text)


def _by_member(rows: pl.LazyFrame, pointers: dict[str, UnseenHistory]) -> pl.LazyFrame:
    """`rows` with each key pointing to an unseen member's version replaced by that member."""
    for column, found in pointers.items():
        surrogate, *keys = found.versions.columns
        named = found.versions.lazy().rename({surrogate: column, **{k: f"{column}:{k}" for k in keys}})
        member = pl.col(f"{column}:{keys[0]}")
        rows = rows.join(named, on=column, how="left").with_columns(
            pl.when(member.is_null()).then(pl.col(column)).alias(column)
        )
    return rows


def _data(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.select(name for name in rows.collect_schema().names() if not name.startswith("_"))


def _data_schema(rows: pl.LazyFrame) -> dict[str, pl.DataType]:
    return dict(_data(rows).collect_schema())
