"""One factory builds every refined table: transform, validate once, split, quarantine, upsert.

For each refined table, a multi-asset reads the raw rows ingested since its last run, cleanses them
(a row-wise transform), validates them against the table's contract, appends the rejected raw
records to `quarantine/<table>`, keeps the newest version of each business key and merges it into
`refined/<table>`. Every raw row ends up refined, quarantined or counted as a duplicate.
"""

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.defs.refined.staging import KeyRanges
from lakehouse.lib.code_version import code_version
from lakehouse.lib.columns import RAW_LINEAGE, now_utc
from lakehouse.lib.key_buckets import bucket_count
from lakehouse.lib.pools import table_pool
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.quality import quarantine
from lakehouse.lib.quality.contract import DIRECT, Contract, contract_columns, contract_pii
from lakehouse.lib.quality.metrics import MONITORED_COLUMNS, keyed_metadata
from lakehouse.lib.quality.quarantine import PROBLEMS_LOGGED, describe, quarantine_rows
from lakehouse.lib.quality.validation import Validation, validate
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.reads import TableReads
from lakehouse.lib.storage.retention import DEFAULT as DEFAULT_RETENTION
from lakehouse.lib.storage.retention import RETENTION_KEY, Retention
from lakehouse.lib.storage.spill import SpilledFrames
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE


@dataclass(frozen=True)
class TransformContext:
    lookups: Mapping[str, pl.LazyFrame]
    pseudonymiser: Pseudonymiser


Transform = Callable[[pl.LazyFrame, TransformContext], pl.LazyFrame]


@dataclass(frozen=True)
class RefinedTable:
    """A refined table: its spec's facts (name, key, contract, description) and how it is refined
    from its raw table (transform, lookups, sequence, ...). Its personal data is classified in its
    contract."""

    name: str
    keys: tuple[str, ...]
    contract: type[Contract]
    transform: Transform
    description: str
    sequence_column: str = "updated_at"
    lookups: Mapping[str, dg.AssetKey] = field(default_factory=dict)
    drop_after_validation: tuple[str, ...] = ()  # e.g. the clear-text email, validated then dropped
    monitored_columns: tuple[str, ...] = ()  # numeric columns watched for distribution anomalies
    # A refined column computed from raw columns of other names (e.g. order_date from order_at);
    # every other column comes from the raw column of its own name.
    derived_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    migrations: tuple[Mapping[str, Mapping[str, str]], ...] = ()  # see `TableSpec.migrations`
    retention: Retention = DEFAULT_RETENTION  # of the refined table (see `TableSpec.retention`)
    quarantine_retention: Retention = quarantine.RETENTION  # its rejected records, with their raw ones
    file_size: int | None = None  # of the refined table's files (see `write_spec.WriteSpec.file_size`)

    @property
    def spec(self) -> TableSpec:
        return TableSpec(
            layer="refined",
            name=self.name,
            description=self.description,
            contract=self.contract,
            key=self.keys,
            sequence=self.sequence_column,
            unstored=self.drop_after_validation,
            migrations=self.migrations,
            retention=self.retention,
            file_size=self.file_size,
        )

    @property
    def code_version(self) -> str:
        """Of the refined and the quarantine table alike: both come from the transform and contract."""
        return code_version(self.transform, self.contract)

    @property
    def raw_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.name])

    @property
    def refined_key(self) -> dg.AssetKey:
        return self.spec.asset_key

    @property
    def quarantine_key(self) -> dg.AssetKey:
        return dg.AssetKey(["quarantine", self.name])

    @property
    def quarantine_policy(self) -> Retention:
        """The quarantine's retention: an expired record goes with its raw record, so that the
        reconciliation (raw = refined + quarantined + duplicates) still holds."""
        raw = "/".join(self.raw_key.path)
        return replace(self.quarantine_retention, expires_with=(raw,))

    @property
    def quarantine_direct_pii(self) -> tuple[str, ...]:
        """Direct PII columns of the quarantined raw records: those the contract classifies, stored
        or not (the clear email too)."""
        return tuple(c for c, kind in contract_pii(self.contract).items() if kind == DIRECT)

    @property
    def output_columns(self) -> list[str]:
        kept = [c for c in contract_columns(self.contract) if c not in self.drop_after_validation]
        return [*kept, *RAW_LINEAGE]


def raw_lineage(table: RefinedTable) -> dg.TableColumnLineage:
    """Each refined column's raw columns: its own name's, or those it is `derived_from`.

    Bookkeeping columns (`_…`) are left out, as in curated lineage.
    """
    return dg.TableColumnLineage(
        {
            column: [
                dg.TableColumnDep(asset_key=table.raw_key, column_name=source)
                for source in table.derived_from.get(column, (column,))
            ]
            for column in table.output_columns
            if not column.startswith("_")
        }
    )


def processed_watermark(store: TableReads, table: RefinedTable) -> object | None:
    """The newest raw `_ingested_at` in refined (None: nothing refined yet).

    Only the refined table counts, because it is written last: if a run dies after quarantining a
    batch but before merging it, the batch is processed again. That is safe, since quarantine
    appends are idempotent per raw batch and the merge only moves rows forward in time. A batch
    that refines no row (all quarantined or duplicates) is re-read until a later one moves the
    watermark, at the cost of a little repeated work.
    """
    return store.newest(table.refined_key, "_ingested_at")


def newest_per_key(rows: pl.DataFrame, keys: tuple[str, ...], sequence: str) -> pl.DataFrame:
    """One row per business key: the newest by `sequence`, then by ingestion order, then the last
    to arrive (the rows' order).

    Only the keys that occur more than once are sorted; usually they are few. They are found by
    their hash (a fifth cheaper than by the keys): a collision only sorts a key that is not repeated.
    """
    repeated = rows.select(pl.struct(list(keys)).hash().is_duplicated()).to_series()
    if not repeated.any():
        return rows
    order = [sequence, "_ingested_at", "_row_number"]
    newest = rows.filter(repeated).sort(order, maintain_order=True)
    return pl.concat(
        [rows.filter(~repeated), newest.unique(subset=list(keys), keep="last", maintain_order=True)]
    )


def source_values_present(raw: pl.LazyFrame, contract: type[Contract]) -> pl.LazyFrame:
    """For each source text column the contract also has: did the row carry a non-blank value?

    Booleans only (cheap), in raw row order, which the row-wise transform keeps.
    """
    schema = raw.collect_schema()
    columns = [c for c in contract_columns(contract) if schema.get(c) == pl.String]
    return raw.select(pl.col(c).str.strip_chars().fill_null("").ne("").alias(c) for c in columns)


def transform_and_validate(
    raw: pl.LazyFrame, table: RefinedTable, context: TransformContext, label: str = ""
) -> tuple[Validation, int]:
    """Transform raw records and validate them once: the split, and how many raw rows it covered.

    The transformed rows and the presence of their source values come from one collect, so raw is
    scanned once; the transformed frame is dropped as soon as it is split.
    """
    transformed, present = pl.collect_all(
        [table.transform(raw, context), source_values_present(raw, table.contract)], engine="streaming"
    )
    checked = validate(transformed, table.contract, f"refined.{table.name}{label}", present)
    return checked, transformed.height


def refined_rows(valid: pl.DataFrame, table: RefinedTable, at: datetime | None = None) -> pl.DataFrame:
    """Valid rows as the refined table stores them: newest per key, stamped `_refined_at` (`at`,
    default now).

    `_refined_at` tells curated what changed; it is distinct from `_ingested_at` (which raw batch a
    row came from, the refine watermark) because a row replayed from quarantine is refined later.
    """
    newest = newest_per_key(valid.select(table.output_columns), table.keys, table.sequence_column)
    return newest.with_columns(pl.lit(at or now_utc(), pl.Datetime("us", "UTC")).alias("_refined_at"))


def pending_rows(pending: pl.LazyFrame) -> int:
    return pending.select(pl.len()).collect(engine="streaming").item()


def windows(pending: pl.LazyFrame, batch_rows: int) -> Iterator[pl.DataFrame]:
    """The pending raw rows, `batch_rows` at a time, in raw order, from one streaming scan; at
    least one window (empty when nothing is pending: the outputs' schemas come from it)."""
    empty = True
    for window in pending.collect_batches(chunk_size=batch_rows):
        empty = False
        yield window
    if empty:
        yield pending.clear().collect()


@dataclass
class Refinement:
    """A refine step's outcome, summed over the windows of raw rows it went through: the valid
    rows spilled by key (`staging.KeyRanges`), the rejected raw records spilled, the counts."""

    table: RefinedTable
    valid: KeyRanges
    rejected: SpilledFrames
    raw_rows: int = 0
    valid_rows: int = 0
    rule_failures: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # the first quarantined records, described

    @classmethod
    def start(cls, table: RefinedTable, staging: Path, rows: int, batch_rows: int) -> "Refinement":
        """Spilling under `staging`, handed on in about as many key ranges as there are windows."""
        ranges = bucket_count(rows, batch_rows)
        valid = KeyRanges(staging / "valid", table.keys, ranges)
        return cls(table, valid, SpilledFrames(staging / "rejected"))

    def add(self, window: pl.DataFrame, context: TransformContext, run_id: str, at: datetime) -> None:
        """Transform and validate one window of raw rows; spill what is valid and what is not."""
        checked, raw_rows = transform_and_validate(window.lazy(), self.table, context)
        rejected = quarantine_rows(window, checked.rejected, run_id, at)
        self.raw_rows += raw_rows
        self.valid_rows += checked.valid.height
        self.rule_failures.update(checked.rule_failures)
        self.warnings.update(checked.warnings)
        if (room := PROBLEMS_LOGGED - len(self.problems)) > 0:
            self.problems += describe(rejected, f"raw.{self.table.name}", room)
        self.rejected.add(rejected)
        self.valid.add(checked.valid.select(self.table.output_columns))


def pass_rates(rule_failures: Mapping[str, int], rows: int) -> dict[str, float]:
    """Share of the rows checked that passed each rule that failed at least once."""
    return {rule: 1 - failed / rows for rule, failed in rule_failures.items()} if rows else {}


def refined_out_args(table: RefinedTable) -> dict[str, object]:
    """The refined output's arguments: the spec's, with the refine step's own metadata."""
    own = {MONITORED_COLUMNS: list(table.monitored_columns), COLUMN_LINEAGE: raw_lineage(table)}
    return table.spec.asset_args(table.code_version, own)


def build_refined_asset(table: RefinedTable) -> dg.AssetsDefinition:
    ins = {"raw": dg.AssetIn(table.raw_key)} | {name: dg.AssetIn(key) for name, key in table.lookups.items()}

    @dg.multi_asset(
        name=f"refine_{table.name}",
        ins=ins,
        pool=table_pool(table.spec.asset_key),  # and its quarantine, written by the same step
        outs={
            "quarantine": dg.AssetOut(
                key=table.quarantine_key,
                group_name="quarantine",
                code_version=table.code_version,
                kinds={"delta", "polars"},
                description=f"Raw {table.name} records rejected by the contract, with the rules they broke.",
                metadata={
                    **write_spec.with_direct_pii(write_spec.append(), table.quarantine_direct_pii),
                    RETENTION_KEY: table.quarantine_policy.describe(),
                },
            ),
            "refined": dg.AssetOut(**refined_out_args(table)),
        },
    )
    def refine(
        context: dg.AssetExecutionContext,
        store: DeltaStore,
        pseudonymiser: Pseudonymiser,
        raw: pl.LazyFrame,
        **lookups: pl.LazyFrame,
    ):
        watermark = processed_watermark(store.reading(context), table)
        pending = raw if watermark is None else raw.filter(pl.col("_ingested_at") > watermark)
        at = now_utc()
        with store.scratch_folder(f"refine-{table.name}-") as staging:
            done = Refinement.start(table, staging, pending_rows(pending), store.batch_rows)
            for window in windows(pending, store.batch_rows):
                done.add(window, TransformContext(lookups, pseudonymiser), context.run.run_id, at)
            refined = done.valid.reduced(lambda rows: refined_rows(rows, table, at), staging / "refined")
            for line in done.problems:
                context.log.warning(f"quarantined: {line}")
            quarantined, duplicates = done.rejected.rows, done.valid_rows - refined.rows
            context.log.info(
                f"{table.name}: {done.raw_rows} raw rows -> {refined.rows} refined, "
                f"{quarantined} quarantined, {duplicates} duplicates ({done.valid.windows} windows)"
            )
            quarantine_metadata = {"rows_quarantined_now": quarantined}
            yield dg.Output(done.rejected.batches(), "quarantine", metadata=quarantine_metadata)
            yield dg.Output(
                refined.batches(),
                "refined",
                metadata={
                    "raw_rows_processed": done.raw_rows,
                    "rows_quarantined_now": quarantined,
                    "duplicates_removed": duplicates,
                    **keyed_metadata("rule_failures", done.rule_failures),
                    **keyed_metadata("rule_pass_rate", pass_rates(done.rule_failures, done.raw_rows)),
                    **keyed_metadata("rule_warnings", done.warnings),
                },
            )

    return refine
