"""Asset check factories: one helper per kind of check, used for every table.

Each check reads the table's current snapshot lazily and, when it fails, shows sample rows.
Checks whose failure means wrong data downstream are blocking: they stop downstream assets.

Key, foreign-key and reconciliation checks judge only what was written since their last passing
evaluation (whose metadata records where it stopped), so an incremental build does not re-scan
millions of rows judged before; their first evaluation, one after the table was replaced, or one
in a run tagged `FULL_CHECK_TAG` (the weekly `full_checks` job) judges it all. When nothing was
written since, they report no result, which Dagster shows as *skipped*, not a pass over 0 rows.

Every factory gives `TableCheck`s; `checks_step` runs an asset's checks in one step.
"""

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from lakehouse.lib.columns import IDENTITY
from lakehouse.lib.key_buckets import key_buckets, summed, within_range_of
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.snapshots import Snapshots, derived
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import plain

SAMPLE_ROWS = 5
# Evaluations searched for the latest pass; none passing among them means judging the whole table.
PASSED_LOOKBACK = 20
# Read first: the newest executions usually hold the last pass (each record costs ~0.75 ms to
# deserialise, and a long-lived instance has the whole lookback for every check).
PASSED_FIRST = 2
# A run with this tag (value `full`) has every check judge whole tables, whatever passed before.
FULL_CHECK_TAG, FULL = "lakehouse/checks", "full"
# The name of the step of an asset's checks ends so: `refine_orders_checks`.
CHECKS_STEP = "_checks"


def markdown(rows: pl.DataFrame) -> dg.MetadataValue:
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=SAMPLE_ROWS,
    ):
        return dg.MetadataValue.md(str(rows.head(SAMPLE_ROWS)))


def _result(failing: pl.LazyFrame, label: str, metadata: dict | None = None) -> dg.AssetCheckResult:
    return _bucketed_result([failing], label, metadata)


def _bucketed_result(
    failing: Sequence[pl.LazyFrame], label: str, metadata: dict | None = None
) -> dg.AssetCheckResult:
    """Passed when no bucket has a failing row; the count is summed, the sample from the first
    buckets that have any (each bucket computed alone: `key_buckets`)."""
    counts = [_count(frame) for frame in failing]
    with_rows = [frame.head(SAMPLE_ROWS) for frame, count in zip(failing, counts, strict=True) if count]
    extra = {"sample": markdown(pl.concat(with_rows).head(SAMPLE_ROWS).collect())} if with_rows else {}
    count = sum(counts)
    return dg.AssetCheckResult(passed=count == 0, metadata={label: count, **(metadata or {}), **extra})


Judge = Callable[[dg.AssetCheckExecutionContext, DeltaStore], dg.AssetCheckResult | None]
# Dagster's executor warns on its own logger (not the run's) for each skipped blocking check and
# each step downstream of it: that is what a skipped check means here, and it would be a dozen
# lines of every `lakehouse run` with nothing new. That warning alone is filtered out.
_EXECUTOR_LOGGER = "dagster._core.execution.plan.active"


class _SkippedBlockingCheckFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "emitted no result in step" not in record.getMessage()


logging.getLogger(_EXECUTOR_LOGGER).addFilter(_SkippedBlockingCheckFilter())


@dataclass(frozen=True)
class TableCheck:
    """One check of a table: its spec and the judge that evaluates it. A table's checks run
    together, in the step of the asset that writes it (`checks_step`)."""

    spec: dg.AssetCheckSpec
    judge: Judge


def checks_step(name: str, checks: Sequence[TableCheck]) -> dg.AssetChecksDefinition:
    """`checks` in one step, `<name>_checks` (`refine_orders_checks`), evaluated in turn.

    One step per check cost each check about 0.1 s of Dagster's own bookkeeping (step events,
    resources, input versions): a quiet one-day build at scale 1 spent 12.4 s in 109 check steps,
    and spends 7.2 s in 31 of these. A judge that returns None has nothing to examine: its check
    gives no result, which Dagster shows as *skipped* (only a `multi_asset_check` that can subset
    may give none). A judge that raises fails the step once the other checks have given theirs.
    """
    judges = {check.spec.key: check.judge for check in checks}

    @dg.multi_asset_check(
        specs=[check.spec for check in checks], name=f"{name}{CHECKS_STEP}", can_subset=True
    )
    def step(context: dg.AssetCheckExecutionContext, store: DeltaStore) -> Iterator[dg.AssetCheckResult]:
        failure: Exception | None = None  # the first judge's that raised
        snapshots = Snapshots()  # each table's log read once for all the judges (never across a yield)
        skipped: list[str] = []  # told in one line: a log line is an event written by the step
        for key in (k for k in judges if k in context.selected_asset_check_keys):
            try:
                with snapshots.kept():
                    result = judges[key](context, store)
            except Exception as error:
                context.log.error(f"{key.to_user_string()} could not be evaluated: {error!r}")
                failure = failure or error
                continue
            if result is None:
                skipped.append(key.to_user_string())
                continue
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=result.passed,
                severity=result.severity,
                metadata=result.metadata,
                description=result.description,
            )
        if skipped:
            context.log.info(f"nothing to examine in this run, skipped: {', '.join(skipped)}")
        if failure is not None:
            raise failure

    return step


def last_passed(context: dg.AssetCheckExecutionContext, check: dg.AssetCheckKey) -> dict[str, Any]:
    """The metadata of `check`'s latest passing evaluation (empty when it never passed, or in a
    full-check run: nothing is vouched for then)."""
    if context.op_execution_context.get_tag(FULL_CHECK_TAG) == FULL:
        return {}
    history = context.instance.event_log_storage.get_asset_check_execution_history
    records = history(check, limit=PASSED_FIRST)  # this run's planned one, then the last evaluation
    evaluation = _first_passed(records)
    if evaluation is None and len(records) == PASSED_FIRST:
        evaluation = _first_passed(history(check, limit=PASSED_LOOKBACK))
    return {} if evaluation is None else {k: plain(v) for k, v in evaluation.metadata.items()}


def _first_passed(records: Sequence[Any]) -> dg.AssetCheckEvaluation | None:
    evaluations = (r.evaluation for r in records if isinstance(r.evaluation, dg.AssetCheckEvaluation))
    return next((e for e in evaluations if e.passed), None)


@dataclass(frozen=True)
class Written:
    """A key check's scope: the table's snapshot and the rows to judge in it.

    `rows` are those of the data files added since the version a passing evaluation vouched for
    (Delta files are immutable: every other row was in that version, whose keys were unique and
    not null), or all rows when none did, or when that version no longer holds what it held then (a
    backup restored in place). `metadata` records the version judged and its content, for the next one.
    """

    table: pl.LazyFrame
    rows: pl.LazyFrame
    whole: bool
    metadata: dict[str, Any]


def written_since_passed(
    context: dg.AssetCheckExecutionContext, store: DeltaStore, check: dg.AssetCheckKey, columns: list[str]
) -> Written | None:
    """The scope of `check`, of `columns` of its table; whole when they include a partition column (its values
    are in the log, not in the data files read). None when no data file was added since the version
    the last pass vouched for: there is nothing new to judge."""
    uri = store.uri(check.asset_key)
    state = delta_tables.state(uri)
    if state is None:
        raise FileNotFoundError(f"{check.to_user_string()}: there is no table at {uri} to judge")
    snapshot = delta_tables.scan(uri, state.version)
    vouched = last_passed(context, check)
    added = None
    if vouched.get("table_id") == state.table_id and "table_content" in vouched:
        since, since_content = int(vouched["table_version"]), vouched["table_content"]
        added = files_written_since(uri, state, since, since_content, columns)
    if added == []:
        return None
    rows = snapshot if added is None else rows_of_files(added)
    metadata = {"table_version": state.version, "table_id": state.table_id, "table_content": state.content}
    return Written(snapshot, rows, added is None, metadata)


def files_written_since(
    uri: str, state: delta_tables.TableState, version: int, content: str | None, columns: Sequence[str]
) -> list[str] | None:
    """The data files added since `version` (which held `content`; None: the caller checked it):
    their rows are what was written since. None when they cannot tell: one of the `columns` read is
    a partition column (its values are in the log, not in the files), or `version` cannot be
    compared (`delta_tables.files_added_since`)."""
    if set(columns) & set(state.partition_columns):
        return None
    return delta_tables.files_added_since(uri, version, state, content)


def rows_of_files(files: list[str], schema: pl.Schema | None = None) -> pl.LazyFrame:
    """The rows of some of a table's data files (those added since a version): a column the table
    gained since reads as null, one it lost is left out."""
    return pl.scan_parquet(files, schema=schema, missing_columns="insert", extra_columns="ignore")


def _count(frame: pl.LazyFrame) -> int:
    return frame.select(pl.len()).collect(engine="streaming").item()


def key_checks(table: dg.AssetKey, keys: Sequence[str]) -> list[TableCheck]:
    """Business keys unique and never null, judged on the rows written since the last pass.

    A duplicate always involves a row written since: the rows the vouched-for version held had
    unique keys. So the keys of the new rows are looked up in the whole table (its key columns
    only), and a new row repeating an old row's key is caught as surely as two new rows sharing one.
    """
    columns = list(keys)
    listed = ", ".join(columns)
    unique = _blocking(table, "unique_key", f"No two rows share ({listed}).")
    not_null = _blocking(table, "key_not_null", f"({listed}) never null.")

    def unique_key(context: dg.AssetCheckExecutionContext, store: DeltaStore) -> dg.AssetCheckResult | None:
        if (scope := written_since_passed(context, store, unique.key, columns)) is None:
            return None
        examined = _count(scope.rows)
        sides = {"table": scope.table.select(columns)}
        if not scope.whole:
            sides["written"] = scope.rows.select(columns)
            sides["table"] = within_range_of(sides["table"], sides["written"], columns)
        with key_buckets(sides, columns, examined, store.key_bucket_rows, store.scratch) as split:
            duplicated = [_duplicated_keys(bucket, columns) for bucket in split]
            metadata = {"rows_examined": examined, **scope.metadata}
            return _bucketed_result(duplicated, "duplicated_keys", metadata)

    def key_not_null(context: dg.AssetCheckExecutionContext, store: DeltaStore) -> dg.AssetCheckResult | None:
        if (scope := written_since_passed(context, store, not_null.key, columns)) is None:
            return None
        nulls = scope.rows.filter(pl.any_horizontal(pl.col(columns).is_null()))
        return _result(nulls, "rows_with_null_key", {"rows_examined": _count(scope.rows), **scope.metadata})

    return [TableCheck(unique, unique_key), TableCheck(not_null, key_not_null)]


def _duplicated_keys(bucket: dict[str, pl.LazyFrame], columns: list[str]) -> pl.LazyFrame:
    """The keys of one bucket of the table's keys held by more than one row, with their copies;
    of the keys `written` since the last pass when the bucket has them (the table judged before)."""
    candidates = bucket["table"]
    if "written" in bucket:
        new_keys = bucket["written"].unique()
        candidates = candidates.join(new_keys, on=columns, how="semi", nulls_equal=True)
    copies = candidates.group_by(columns).agg(pl.len().alias("copies"))
    return copies.filter(pl.col("copies") > 1)


def _blocking(
    table: dg.AssetKey, name: str, description: str, additional_deps: Sequence[dg.AssetKey] = ()
) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name, asset=table, description=description, blocking=True, additional_deps=additional_deps
    )


def foreign_key_check(fact: dg.AssetKey, column: str, dim: dg.AssetKey, dim_column: str) -> TableCheck:
    """Every fact row's key is found in the dimension (unknown members count as found).

    Judged on the fact rows written since the last pass (the slices a run replaced): a row written
    before kept its key, and the fact rebuilds every row whose dimension version may have changed
    (see `incremental.changed_members`). The weekly full check judges every row.
    """

    description = f"Every {column} is a {dim.to_user_string()}.{dim_column}."
    spec = _blocking(fact, f"{column}_in_{dim.path[-1]}", description, [dim])

    def foreign_key(context: dg.AssetCheckExecutionContext, store: DeltaStore) -> dg.AssetCheckResult | None:
        if (scope := written_since_passed(context, store, spec.key, [column])) is None:
            return None
        facts = scope.rows.select(column)
        orphans = facts.join(store.scan(dim).select(pl.col(dim_column).alias(column)), on=column, how="anti")
        counts = _counts(examined=facts, unknown=facts.filter(pl.col(column) == -1))
        examined = {"rows_examined": counts["examined"], "rows_on_unknown_member": counts["unknown"]}
        return _result(orphans, "orphan_rows", {**examined, **scope.metadata})

    return TableCheck(spec, foreign_key)


def _comparable_keys(raw: pl.LazyFrame, refined: pl.LazyFrame, keys: Sequence[str]) -> list[pl.Expr]:
    """Key expressions under which raw and refined keys compare as refined sees them.

    Text keys are trimmed (as the transforms do); a key typed differently on the two sides is
    compared as text. Keys of the same non-text type are compared as they are (cheap).
    """
    raw_types, refined_types = raw.collect_schema(), refined.collect_schema()
    exprs = []
    for key in keys:
        same = raw_types[key] == refined_types[key] and raw_types[key] != pl.String
        exprs.append(pl.col(key) if same else pl.col(key).cast(pl.String).str.strip_chars())
    return exprs


def _counts(**frames: pl.LazyFrame) -> dict[str, int]:
    """Row counts of several lazy frames, computed in one collect."""
    counts = pl.concat([f.select(pl.len().alias(name)) for name, f in frames.items()], how="horizontal")
    return counts.collect().row(0, named=True)


# Commits after which the rows judged before still stand: appends and merges add or replace rows
# of raw batches; an overwrite, DELETE, UPDATE or RESTORE (a replay, a fix, a roll-back) may
# move any row. A compaction (OPTIMIZE) keeps every row as it was.
_ADDING_OPERATIONS = {"WRITE Append", "MERGE", "OPTIMIZE"}


@dataclass(frozen=True)
class Window:
    """The raw rows a reconciliation judges: those ingested after `since` (all when None), up to
    the newest a refine run has processed. `state` is recorded for the next evaluation."""

    since: datetime | None
    refined_version: int | None  # refined as the last pass left it (`_same_tables`: still as judged)
    state: dict[str, Any]


def _window(
    context: dg.AssetCheckExecutionContext,
    check: dg.AssetCheckKey,
    store: DeltaStore,
    tables: Sequence[dg.AssetKey],
    until: datetime | None,
) -> Window | None:
    """From the last passing evaluation, if the tables are the same and only grew since; None
    when none of them changed since (nothing to judge)."""
    refined, quarantine = tables[1:]
    state: dict[str, Any] = {"processed_until": "" if until is None else until.isoformat()}
    for key in tables:
        name, now = key.to_user_string(), delta_tables.state(store.uri(key))
        state[f"{name} id"] = None if now is None else now.table_id
        state[f"{name} version"] = None if now is None else now.version
        state[f"{name} content"] = None if now is None else now.content
    whole = Window(None, None, state)
    vouched = last_passed(context, check)
    if vouched and all(vouched.get(k) == v for k, v in state.items()):
        return None
    if until is None or not vouched.get("processed_until") or not _same_tables(store, tables, vouched, state):
        return whole
    versions = {key: int(vouched[f"{key.to_user_string()} version"]) for key in (refined, quarantine)}
    for key, version in versions.items():
        if not delta_tables.operations_since(store.uri(key), version) <= _ADDING_OPERATIONS:
            return whole
    since = datetime.fromisoformat(vouched["processed_until"])
    return Window(since, versions[refined], state) if since <= until else whole


def _same_tables(
    store: DeltaStore, tables: Sequence[dg.AssetKey], vouched: dict[str, Any], state: dict[str, Any]
) -> bool:
    """Whether the tables a pass vouched for are these ones (same ids), and each version it judged
    still holds the rows it judged (a backup restored in place makes version numbers again)."""
    for key in tables:
        name = key.to_user_string()
        if vouched.get(f"{name} id") != state[f"{name} id"] or not vouched.get(f"{name} content"):
            return False
        judged = delta_tables.content(store.uri(key), int(vouched[f"{name} version"]))
        if judged != vouched[f"{name} content"]:
            return False
    return True


def reconciliation_check(
    raw: dg.AssetKey, refined: dg.AssetKey, quarantine: dg.AssetKey, keys: Sequence[str]
) -> TableCheck:
    """raw rows = refined rows + quarantined rows + duplicates removed: nothing lost, nothing invented.

    After a pass, only the raw rows ingested since are judged (by `_ingested_at`, which quarantined
    and refined rows keep from raw), while refined and quarantine have only been appended to or
    merged into (else everything is judged again). Each such raw row is quarantined or its key is
    in refined; every refined row of the window has a key among the window's valid raw rows; and
    refined grew by exactly the window's keys it did not hold before (a merge replaces a key's row,
    adding none): so a refined row lost, copied or invented since the last pass is caught, not
    only one of the window. In a window, `refined_rows` counts the window's keys found in refined.
    """
    description = "Every raw row processed is refined, quarantined or a duplicate of a refined key."
    spec = _blocking(refined, "reconciles_with_raw", description, [raw, quarantine])

    def reconciles_with_raw(
        context: dg.AssetCheckExecutionContext, store: DeltaStore
    ) -> dg.AssetCheckResult | None:
        # Only raw rows a refine run has seen: a raw batch may land while this check runs.
        newest = (store.newest(key, "_ingested_at") for key in (refined, quarantine))
        until = max(filter(None, newest), default=None)
        window = _window(context, spec.key, store, [raw, refined, quarantine], until)
        if window is None:
            return None
        sides = _Sides.judged(store, (raw, refined, quarantine), keys, window, until)
        n, sample = sides.counted(store.key_bucket_rows, store.scratch)
        growth = {}
        if window.since is not None:
            n["refined"] = n["expected"] - n["missing"]
            growth = _growth(store.uri(refined), window.refined_version, n["new_keys"])
        return _reconciliation(n, growth, window, sample)

    return TableCheck(spec, reconciles_with_raw)


@dataclass(frozen=True)
class _Sides:
    """What a reconciliation sets against each other, keys made comparable (`_comparable_keys`)."""

    keys: Sequence[str]
    raw: pl.LazyFrame  # the raw rows judged: their keys and identity
    quarantined: pl.LazyFrame  # the identity of those of them quarantined (not split by key)
    refined: pl.LazyFrame  # refined's keys
    window_refined: pl.LazyFrame | None  # refined's keys of rows ingested with those judged; None: whole
    before: pl.LazyFrame | None  # refined's keys as the last pass left them; None: judged whole

    @classmethod
    def judged(
        cls,
        store: DeltaStore,
        tables: tuple[dg.AssetKey, dg.AssetKey, dg.AssetKey],
        keys: Sequence[str],
        window: Window,
        until: datetime | None,
    ) -> "_Sides":
        """The (raw, refined, quarantine) `tables` as the reconciliation judges them in `window`."""
        raw, refined, quarantine = tables
        refined_rows, quarantined = store.scan(refined), store.scan(quarantine)
        raw_rows = store.scan(raw).filter(pl.col("_ingested_at") <= until)
        comparable = _comparable_keys(raw_rows, refined_rows, keys)
        if window.since is None:
            judged, refined_keys = raw_rows.select(*comparable, *IDENTITY), refined_rows.select(comparable)
            return cls(keys, judged, quarantined.select(IDENTITY), refined_keys, None, None)
        after = pl.col("_ingested_at") > window.since
        judged = raw_rows.filter(after).select(*comparable, *IDENTITY)
        # refined looked up only where the window's keys may be (`within_range_of`), as it is and
        # as the last pass left it; its rows of the window from the files written since that pass
        typed = refined_rows.collect_schema()
        window_keys = judged.select(pl.col(key).cast(typed[key], strict=False) for key in keys)
        before = delta_tables.scan(store.uri(refined), window.refined_version)
        return cls(
            keys,
            judged,
            quarantined.filter(after).select(IDENTITY),
            within_range_of(refined_rows, window_keys, keys).select(comparable),
            _written_since(store.uri(refined), window, refined_rows, [*keys, "_ingested_at"])
            .filter(after)
            .select(comparable),
            within_range_of(before, window_keys, keys).select(comparable),
        )

    def counted(self, bucket_rows: int, scratch: Path) -> tuple[dict[str, int], pl.DataFrame]:
        """The counts summed over buckets of keys of about `bucket_rows` raw rows (spilled under
        `scratch`), and sample problem keys from the buckets that have any. Judged whole, refined's
        keys are those of the window: split once."""
        sides = {"raw": self.raw, "refined": self.refined}
        if self.before is not None:
            sides |= {"window_refined": self.window_refined, "before": self.before}
        with key_buckets(sides, self.keys, _count(self.raw), bucket_rows, scratch) as split:
            counted = [self.tallied(bucket) for bucket in split]
            problems = [
                self.problems(b) for b, c in zip(split, counted, strict=True) if c["missing"] or c["invented"]
            ]
            sample = _problem_sample(problems)
        return summed(counted) | {"quarantined": _count(self.quarantined)}, sample

    def valid(self, raw: pl.LazyFrame) -> pl.LazyFrame:
        """The raw rows not quarantined (found in it by their identity: it is not split by key)."""
        return raw.join(self.quarantined, on=list(IDENTITY), how="anti")

    def tallied(self, sides: dict[str, pl.LazyFrame]) -> dict[str, int]:
        """The counts of one bucket of keys of the `sides`, from one grouping of every side's keys
        by how many rows of each side hold them (a join per count, with the distinct valid keys
        found first, cost 2.7x the CPU: 3.9M event ids). A key with a null matches none, as in
        a join."""
        keys = list(self.keys)
        held = {"valid": self.valid(sides["raw"])} | {name: f for name, f in sides.items() if name != "raw"}
        tagged = [frame.select(keys).with_columns(pl.lit(True).alias(name)) for name, frame in held.items()]
        per_key = pl.concat(tagged, how="diagonal").group_by(keys).agg(pl.col(name).count() for name in held)
        matchable = ~pl.any_horizontal(pl.col(keys).is_null())

        def found(side: str) -> pl.Expr:
            return (pl.col(side) > 0) & matchable

        expected = pl.col("valid") > 0
        counts = {
            "valid": pl.col("valid").sum(),
            "expected": expected.sum(),
            "missing": (expected & ~found("refined")).sum(),
            "invented": pl.col(self.judged_refined(sides)).filter(~found("valid")).sum(),
        }
        if "before" in sides:
            counts["new_keys"] = (expected & ~found("before")).sum()
        else:
            counts["refined"] = pl.col("refined").sum()
        totals = [sides["raw"].select(pl.len().alias("raw")), per_key.select(**counts)]
        row = pl.concat(totals, how="horizontal").collect().row(0, named=True)
        return {name: int(value) for name, value in row.items()}

    @staticmethod
    def judged_refined(sides: dict[str, pl.LazyFrame]) -> str:
        """The side whose refined keys must each be in raw: the window's rows, or all of refined."""
        return "window_refined" if "window_refined" in sides else "refined"

    def problems(self, sides: dict[str, pl.LazyFrame]) -> dict[str, pl.LazyFrame]:
        """The keys missing from refined and the refined keys not in raw, of one bucket of keys
        (read only for a sample, when the counts found some)."""
        keys = list(self.keys)
        expected = self.valid(sides["raw"]).select(keys).unique()
        return {
            "missing": expected.join(sides["refined"], on=keys, how="anti"),
            "invented": sides[self.judged_refined(sides)].join(expected, on=keys, how="anti"),
        }


def _written_since(uri: str, window: Window, table: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """The rows of the refined `table` in the data files added since the version the window's
    last pass judged: every row a refine run merged since is in one (Delta files are immutable;
    `_window` made sure that version still holds what was judged and that the commits since only
    added or merged rows). That version and the newest are read from the snapshots the step keeps
    (`checks_step`): the very ones `_window` vouched for, not a reload a backup restored meanwhile
    could have made again. All of `table` when one of the `columns` read is a partition column:
    its values are in the log, not in the files."""
    state = delta_tables.state(uri)
    added = files_written_since(uri, state, window.refined_version, None, columns)
    if added is None:
        return table
    if not added:
        return table.clear()
    return rows_of_files(added, table.collect_schema())


def _problem_sample(problems: Sequence[dict[str, pl.LazyFrame]]) -> pl.DataFrame:
    """A few keys missing from refined or not in raw, labelled, from the buckets that have any."""
    labelled = [
        frames[name].head(SAMPLE_ROWS).with_columns(problem=pl.lit(problem))
        for frames in problems
        for name, problem in (("missing", "missing from refined"), ("invented", "not in raw"))
    ]
    return pl.concat(labelled).head(SAMPLE_ROWS).collect() if labelled else pl.DataFrame()


def _growth(uri: str, since: int, new_keys: int) -> dict[str, int]:
    """Rows refined gained since version `since` (from the log), and the new keys that explain them."""
    return {
        "refined_rows_added": delta_tables.row_count(uri) - delta_tables.row_count(uri, since),
        "new_keys": new_keys,
    }


def _reconciliation(
    n: dict[str, int],
    growth: dict[str, int],
    window: Window,
    sample: pl.DataFrame,
) -> dg.AssetCheckResult:
    """The verdict on the counts `n`, the equation and, when it fails, the `sample` problem keys."""
    duplicates = n["valid"] - n["expected"]
    balanced = n["raw"] == n["refined"] + n["quarantined"] + duplicates
    grew_by_new_keys = growth.get("refined_rows_added") == growth.get("new_keys")
    passed = balanced and grew_by_new_keys and n["missing"] == n["invented"] == 0
    metadata = {
        "raw_rows": n["raw"],
        "refined_rows": n["refined"],
        "quarantined_rows": n["quarantined"],
        "duplicates_removed": duplicates,
        "keys_missing_from_refined": n["missing"],
        "keys_not_in_raw": n["invented"],
        "equation": (
            f"{n['raw']} raw = {n['refined']} refined + {n['quarantined']} quarantined"
            f" + {duplicates} duplicates"
        ),
        **growth,
        "raw_rows_ingested_after": "" if window.since is None else window.since.isoformat(),
        **window.state,
    }
    if not passed:
        metadata["sample"] = markdown(sample)
    return dg.AssetCheckResult(passed=passed, metadata=metadata)


SCHEMA_CHANGE_CHECK = "column_schema_change"
# The newest materialisations of a table read at once: the table's own and, unless the run wrote
# its days too, the earlier run's it is compared with (each record costs ~5 ms to deserialise).
SCHEMA_PAGE = 2
COLUMN_SCHEMA = "dagster/column_schema"


def schema_change_checks(tables: Iterable[dg.AssetKey]) -> list[TableCheck]:
    """Checks that warn when a table's columns change between materialisations (`dagster/column_schema`),
    as Dagster's `build_column_schema_change_checks` does, but run in the step of the table's other
    checks (Dagster's own is a step of its own, named by a hash)."""
    description = "Warns when the table's columns or their types changed since its previous materialisation."
    return [
        TableCheck(
            dg.AssetCheckSpec(SCHEMA_CHANGE_CHECK, asset=table, description=description),
            lambda context, _store, table=table: schema_change_result(context.instance, table),
        )
        for table in sorted(tables)
    ]


def schema_change_result(instance: dg.DagsterInstance, table: dg.AssetKey) -> dg.AssetCheckResult:
    """Passed unless `table`'s newest materialisation has other columns or types than the newest one
    of an earlier run. Not simply the newest two: a run that writes a day-sliced table records its
    days as materialisations too, just before the table's own."""
    records = instance.fetch_materializations(table, limit=SCHEMA_PAGE).records
    if records:
        run = records[0].run_id
        run_started = derived(("first materialisation", run), lambda: _first_materialisation(instance, run))
        earlier = [r for r in records if r.storage_id < run_started][:1]
        if not earlier and len(records) == SCHEMA_PAGE:  # the run wrote more than the page holds
            before = dg.AssetRecordsFilter(asset_key=table, before_storage_id=run_started)
            earlier = instance.fetch_materializations(before, limit=1).records
        records = [records[0], *earlier]
    schemas = [
        plain(record.asset_materialization.metadata.get(COLUMN_SCHEMA))
        for record in records
        if record.asset_materialization is not None
    ]
    if len(schemas) < 2 or None in schemas:
        return _schema_result(table, True, "fewer than two materialisations with a column schema")
    new, old = ({column.name: column.type for column in schema.columns} for schema in schemas)
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    retyped = sorted(
        f"{name}: {old[name]} -> {new[name]}" for name in new.keys() & old.keys() if old[name] != new[name]
    )
    changes = [
        f"{what}: {', '.join(names)}"
        for what, names in (("added", added), ("removed", removed), ("type changed", retyped))
        if names
    ]
    return _schema_result(table, not changes, "; ".join(changes) or "no column changed")


def _first_materialisation(instance: dg.DagsterInstance, run_id: str) -> int:
    """The storage id of the run's first materialisation, of any asset: asked once for all the
    schema-change checks of a step (`snapshots.derived`)."""
    first = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1, ascending=True
    )
    return first.records[0].storage_id


def _schema_result(table: dg.AssetKey, passed: bool, description: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=table,
        check_name=SCHEMA_CHANGE_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
    )
