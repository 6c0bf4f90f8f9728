"""Manual intervention on quarantine: list, show, fix and replay rejected records.

A quarantined record is the raw record as it arrived plus the rules it broke. A data engineer
fixes it in place (`fix`: a Delta UPDATE on the quarantine table), or relaxes a rule in the
contract, then `replay`s it: the record goes through the table's transform and contract again;
records that now pass are written to refined, by the write spec the refined asset declares, and
removed from quarantine; the others stay. Every fix and replay is in the audit log, and the replay's
commits record the versions of the tables it read. Nothing is lost either way: a record is always
in one place.
"""

from dataclasses import dataclass

import polars as pl
from deltalake import CommitProperties, DeltaTable

from lakehouse.defs.refined.refine import RefinedTable, TransformContext, refined_rows, transform_and_validate
from lakehouse.lib.columns import IDENTITY
from lakehouse.lib.privacy import Pseudonymiser, redact_literals
from lakehouse.lib.quality.validation import RULES
from lakehouse.lib.storage import audit, delta_tables
from lakehouse.lib.storage.reads import PinnedTable
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteSpec

QUARANTINE_COLUMNS = (RULES, "_quarantined_at", "_quarantine_run_id")


@dataclass(frozen=True)
class Replay:
    table: str
    candidates: int
    replayed: int
    still_failing: int


def rules_summary(store: DeltaStore, tables: list[RefinedTable]) -> pl.DataFrame:
    """Quarantined rows per table and rule (a row breaking two rules counts under both)."""
    counts = [
        frame.select(pl.col(RULES))
        .explode(RULES)
        .group_by(RULES)
        .len()
        .select(pl.lit(t.name).alias("table"), pl.col(RULES).alias("rule"), pl.col("len").alias("rows"))
        for t in tables
        if (frame := store.scan_or_none(t.quarantine_key)) is not None
    ]
    if not counts:
        return pl.DataFrame(schema={"table": pl.String, "rule": pl.String, "rows": pl.UInt32})
    return pl.concat(counts).collect().sort("table", "rule")


def show(store: DeltaStore, table: RefinedTable, rule: str | None = None, limit: int = 20) -> pl.DataFrame:
    rows = store.scan(table.quarantine_key)
    if rule is not None:
        rows = rows.filter(pl.col(RULES).list.contains(rule))
    return rows.head(limit).collect()


def fix(store: DeltaStore, table: RefinedTable, updates: dict[str, str], where: str) -> int:
    """Set columns (SQL expressions) of the quarantined records matching `where`; audited.

    The audit records which columns were fixed and the predicate with its string literals redacted,
    never the values set: a fixed email or name is personal data.

        A column the quarantine table does not have is an error naming it (delta-rs would ignore it
        and still count the rows as updated).
    """
    uri = store.uri(table.quarantine_key)
    quarantined = DeltaTable(uri)
    columns = quarantined.schema().to_arrow().names
    unknown = [column for column in updates if column not in columns]
    if unknown:
        raise ValueError(
            f"quarantine.{table.name} has no column {', '.join(unknown)}; its columns: {', '.join(columns)}"
        )
    metrics = quarantined.update(updates=updates, predicate=where)
    changed = metrics["num_updated_rows"]
    audit.record(
        store.root,
        operation="fix",
        table="/".join(table.quarantine_key.path),
        version=delta_tables.version(uri),
        details={"set": sorted(updates), "where": redact_literals(where), "rows": changed},
    )
    return changed


def replay(
    store: DeltaStore, table: RefinedTable, pseudonymiser: Pseudonymiser, where: str | None = None
) -> Replay:
    """Re-validate quarantined records (those matching `where`); write the ones that pass."""
    quarantine = store.pin(table.quarantine_key)
    lookups = {name: store.pin(key) for name, key in table.lookups.items()}
    quarantined = quarantine.scan()
    candidates = (quarantined if where is None else quarantined.filter(pl.sql_expr(where))).collect()
    raw = candidates.drop(QUARANTINE_COLUMNS)
    context = TransformContext({name: t.scan() for name, t in lookups.items()}, pseudonymiser)
    checked, _ = transform_and_validate(raw.lazy(), table, context, " (replay)")
    passing = checked.valid.select(IDENTITY)
    if passing.height:
        read = {t.name: t.version for t in [quarantine, *lookups.values()]}
        provenance = {
            "lakehouse.replay": {"where": where, "rows": passing.height},
            delta_tables.INPUT_VERSIONS_COMMIT_KEY: read,
        }
        spec = WriteSpec.from_metadata(table.spec.write_metadata())  # the asset's own
        delta_tables.write(store.uri(table.refined_key), refined_rows(checked.valid, table), spec, provenance)
        _remove(quarantine, passing, provenance)
    result = Replay(table.name, candidates.height, passing.height, candidates.height - passing.height)
    audit.record(
        store.root,
        operation="replay",
        table="/".join(table.refined_key.path),
        version=delta_tables.version(store.uri(table.refined_key)),
        details={"where": where, **result.__dict__},
    )
    return result


def _remove(quarantine: PinnedTable, identities: pl.DataFrame, provenance: dict[str, object]) -> None:
    """Delete the records with these (`_batch_id`, `_row_number`) from the quarantine table."""
    on = " AND ".join(f"t.{c} = s.{c}" for c in IDENTITY)
    custom = delta_tables.as_commit_metadata(provenance)
    DeltaTable(quarantine.uri).merge(
        delta_tables.as_stream(identities),
        predicate=on,
        source_alias="s",
        target_alias="t",
        commit_properties=CommitProperties(custom_metadata=custom),
    ).when_matched_delete().execute()
