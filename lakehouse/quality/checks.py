"""Asset check factories: one helper per kind of check, used for every table.

Each check reads the table's current snapshot lazily and, when it fails, shows sample rows.
Checks whose failure means wrong data downstream are blocking: they stop downstream assets.
"""

from collections.abc import Sequence

import dagster as dg
import polars as pl

from lakehouse.quality.quarantine import IDENTITY
from lakehouse.storage.store import DeltaStore

SAMPLE_ROWS = 5


def markdown(rows: pl.DataFrame) -> dg.MetadataValue:
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=SAMPLE_ROWS,
    ):
        return dg.MetadataValue.md(str(rows.head(SAMPLE_ROWS)))


def _result(failing: pl.LazyFrame, label: str, metadata: dict | None = None) -> dg.AssetCheckResult:
    count = failing.select(pl.len()).collect().item()
    extra = {"sample": markdown(failing.head(SAMPLE_ROWS).collect())} if count else {}
    return dg.AssetCheckResult(passed=count == 0, metadata={label: count, **(metadata or {}), **extra})


def key_checks(table: dg.AssetKey, keys: Sequence[str]) -> list[dg.AssetChecksDefinition]:
    """Business keys unique and never null."""
    columns = list(keys)

    @dg.asset_check(
        asset=table,
        name="unique_key",
        blocking=True,
        description=f"No two rows share ({', '.join(columns)}).",
    )
    def unique_key(store: DeltaStore) -> dg.AssetCheckResult:
        copies = store.scan(table).group_by(columns).agg(pl.len().alias("copies"))
        return _result(copies.filter(pl.col("copies") > 1), "duplicated_keys")

    @dg.asset_check(
        asset=table,
        name="key_not_null",
        blocking=True,
        description=f"({', '.join(columns)}) never null.",
    )
    def key_not_null(store: DeltaStore) -> dg.AssetCheckResult:
        nulls = store.scan(table).filter(pl.any_horizontal(pl.col(columns).is_null()))
        return _result(nulls, "rows_with_null_key")

    return [unique_key, key_not_null]


def foreign_key_check(
    fact: dg.AssetKey, column: str, dim: dg.AssetKey, dim_column: str
) -> dg.AssetChecksDefinition:
    """Every fact row's key is found in the dimension (unknown members count as found)."""

    @dg.asset_check(
        asset=fact,
        name=f"{column}_in_{dim.path[-1]}",
        blocking=True,
        additional_deps=[dim],
        description=f"Every {column} is a {dim.to_user_string()}.{dim_column}.",
    )
    def foreign_key(store: DeltaStore) -> dg.AssetCheckResult:
        facts = store.scan(fact)
        orphans = facts.join(store.scan(dim).select(pl.col(dim_column).alias(column)), on=column, how="anti")
        unknown = facts.filter(pl.col(column) == -1).select(pl.len()).collect().item()
        return _result(orphans, "orphan_rows", {"rows_on_unknown_member": unknown})

    return foreign_key


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


def _latest_ingestion(*tables: pl.LazyFrame) -> object:
    ingested = pl.concat([t.select("_ingested_at") for t in tables])
    return ingested.select(pl.col("_ingested_at").max()).collect().item()


def _counts(**frames: pl.LazyFrame) -> dict[str, int]:
    """Row counts of several lazy frames, computed in one collect."""
    counts = pl.concat([f.select(pl.len().alias(name)) for name, f in frames.items()], how="horizontal")
    return counts.collect().row(0, named=True)


def reconciliation_check(
    raw: dg.AssetKey, refined: dg.AssetKey, quarantine: dg.AssetKey, keys: Sequence[str]
) -> dg.AssetChecksDefinition:
    """raw rows = refined rows + quarantined rows + duplicates removed: nothing lost, nothing invented."""

    @dg.asset_check(
        asset=refined,
        name="reconciles_with_raw",
        blocking=True,
        additional_deps=[raw, quarantine],
        description="Every raw row processed is refined, quarantined or a duplicate of a refined key.",
    )
    def reconciles_with_raw(store: DeltaStore) -> dg.AssetCheckResult:
        refined_rows, quarantined = store.scan(refined), store.scan(quarantine)
        # Only raw rows a refine run has seen: a raw batch may land while this check runs.
        processed_until = _latest_ingestion(refined_rows, quarantined)
        raw_rows = store.scan(raw).filter(pl.col("_ingested_at") <= processed_until)
        valid = raw_rows.join(quarantined.select(IDENTITY), on=list(IDENTITY), how="anti")
        comparable = _comparable_keys(raw_rows, refined_rows, keys)
        expected_keys = valid.select(comparable).unique()
        actual_keys = refined_rows.select(comparable)
        missing = expected_keys.join(actual_keys, on=list(keys), how="anti")
        invented = actual_keys.join(expected_keys, on=list(keys), how="anti")
        n = _counts(
            raw=raw_rows,
            quarantined=quarantined,
            valid=valid,
            expected=expected_keys,
            refined=actual_keys,
            missing=missing,
            invented=invented,
        )
        duplicates = n["valid"] - n["expected"]
        balanced = n["raw"] == n["refined"] + n["quarantined"] + duplicates
        passed = balanced and n["missing"] == n["invented"] == 0
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
        }
        if not passed:
            problems = pl.concat(
                [
                    missing.with_columns(problem=pl.lit("missing from refined")),
                    invented.with_columns(problem=pl.lit("not in raw")),
                ]
            )
            metadata["sample"] = markdown(problems.head(SAMPLE_ROWS).collect())
        return dg.AssetCheckResult(passed=passed, metadata=metadata)

    return reconciles_with_raw
