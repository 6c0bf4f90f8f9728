"""Asset checks over real Delta tables: keys, referential integrity, reconciliation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse.lib.quality import checks
from lakehouse.lib.quality.checks import (
    TableCheck,
    checks_step,
    foreign_key_check,
    key_checks,
    last_passed,
    reconciliation_check,
    schema_change_checks,
)
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec
from lakehouse.operations.backup import create, restore
from lakehouse.settings import Settings, get_settings

OVERWRITE = WriteSpec(WriteMode.OVERWRITE)
APPEND = WriteSpec(WriteMode.APPEND)
FACT = dg.AssetKey(["curated", "fact_order_items"])
DIM = dg.AssetKey(["curated", "dim_customer"])
RAW = dg.AssetKey(["raw", "customers"])
REFINED = dg.AssetKey(["refined", "customers"])
QUARANTINE = dg.AssetKey(["quarantine", "customers"])
T1 = datetime(2025, 1, 3, tzinfo=UTC)
T2 = datetime(2025, 1, 4, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return get_settings(tmp_path / "data")


@pytest.fixture
def store(settings: Settings) -> DeltaStore:
    """The tables of a lakehouse in a temporary folder (so that it can be backed up and restored)."""
    return DeltaStore(root=settings.tables_uri)


def back_up(settings: Settings, tmp_path: Path) -> Callable[[], None]:
    """Back up the tables now (a real backup); calling the result restores it in place."""
    create(settings, tmp_path / "backups", None)
    return lambda: restore(settings, tmp_path / "backups", None, None, force=True)


def put(store: DeltaStore, key: dg.AssetKey, frame: pl.DataFrame, spec: WriteSpec = OVERWRITE) -> None:
    delta_tables.write(store.uri(key), frame, spec, {})


@pytest.fixture(autouse=True)
def _instance(instance: dg.DagsterInstance) -> None:
    """Checks read their last passing evaluation from the session's instance."""
    global INSTANCE
    INSTANCE = instance


INSTANCE: dg.DagsterInstance


def append(store: DeltaStore, key: dg.AssetKey, frame: pl.DataFrame) -> None:
    """A plain append, whatever the keys (a bug upstream could write one)."""
    write_deltalake(store.uri(key), frame.to_arrow(), mode="append")


def evaluate(check: TableCheck, store: DeltaStore) -> dg.AssetCheckResult | None:
    """The check's result, evaluated in a step of its own; None when it gave none (Dagster shows it
    skipped)."""
    context = dg.build_asset_check_context(resources={"store": store}, instance=INSTANCE)
    results = list(checks_step("demo", [check])(context))
    assert len(results) <= 1
    return results[0] if results else None


def run(check: TableCheck, store: DeltaStore) -> dg.AssetCheckResult:
    result = evaluate(check, store)
    assert result is not None, "the check was skipped"
    return result


def record(check: TableCheck, result: dg.AssetCheckResult) -> None:
    """Store the evaluation in the instance, as a run does."""
    evaluation = dg.AssetCheckEvaluation(
        asset_key=check.spec.asset_key,
        check_name=check.spec.name,
        passed=result.passed,
        metadata=result.metadata,
    )
    INSTANCE.report_runless_asset_event(evaluation)


def values(result: dg.AssetCheckResult) -> dict:
    return {k: v.value if k != "sample" else v.md_str for k, v in result.metadata.items()}


def state(store: DeltaStore, key: dg.AssetKey) -> dict:
    """The metadata a key check records for the next evaluation: the table judged."""
    now = delta_tables.state(store.uri(key))
    return {"table_version": now.version, "table_id": now.table_id, "table_content": now.content}


def test_the_last_pass_is_found_behind_the_evaluations_that_failed_since(store):
    """`last_passed` reads the newest executions first, and further back when none of them passed."""
    vouched = []

    def judge(context: dg.AssetCheckExecutionContext, _store: DeltaStore) -> dg.AssetCheckResult:
        vouched.append(last_passed(context, check.spec.key))
        return dg.AssetCheckResult(passed=True)

    check = TableCheck(dg.AssetCheckSpec("vouched_demo", asset=dg.AssetKey(["raw", "vouched_demo"])), judge)
    for passed, mark in ((True, 1), (False, 2), (False, 3)):
        record(check, dg.AssetCheckResult(passed=passed, metadata={"mark": mark}))
    run(check, store)
    record(check, dg.AssetCheckResult(passed=True, metadata={"mark": 4}))
    run(check, store)

    assert vouched == [{"mark": 1}, {"mark": 4}]


# --- key checks -------------------------------------------------------------------------------


def order_lines(order_ids: list, line_nos: list) -> pl.DataFrame:
    return pl.DataFrame(
        {"order_id": order_ids, "line_no": line_nos}, schema={"order_id": pl.Int64, "line_no": pl.Int64}
    )


def test_key_checks_are_blocking_and_named_for_the_table():
    unique, not_null = key_checks(FACT, ["order_id", "line_no"])

    assert [check.spec.key for check in (unique, not_null)] == [
        dg.AssetCheckKey(FACT, "unique_key"),
        dg.AssetCheckKey(FACT, "key_not_null"),
    ]
    assert all(check.spec.blocking for check in (unique, not_null))


def test_unique_key_passes_on_distinct_composite_keys(store):
    put(store, FACT, order_lines([1, 1, 2], [1, 2, 1]))
    unique, _ = key_checks(FACT, ["order_id", "line_no"])

    result = run(unique, store)

    assert result.passed
    assert values(result) == {"duplicated_keys": 0, "rows_examined": 3, **state(store, FACT)}


def test_unique_key_fails_counting_each_duplicated_key_once_with_a_sample(store):
    put(store, FACT, order_lines([1, 1, 1, 2, 2, 2, 3], [1, 1, 2, 1, 1, 1, 1]))
    unique, _ = key_checks(FACT, ["order_id", "line_no"])

    result = run(unique, store)

    assert not result.passed
    found = values(result)
    assert found["duplicated_keys"] == 2  # (1, 1) twice and (2, 1) three times
    assert "| 1        | 1       | 2      |" in found["sample"]
    assert "| 2        | 1       | 3      |" in found["sample"]


def test_key_not_null_counts_rows_with_any_null_key_column(store):
    put(store, FACT, order_lines([1, None, 2, None], [1, 1, None, None]))
    _, not_null = key_checks(FACT, ["order_id", "line_no"])

    result = run(not_null, store)

    assert not result.passed
    assert values(result)["rows_with_null_key"] == 3
    assert "sample" in result.metadata


def test_key_not_null_passes_without_nulls(store):
    put(store, FACT, order_lines([1, 2], [1, 1]))
    _, not_null = key_checks(FACT, ["order_id", "line_no"])

    assert values(run(not_null, store)) == {"rows_with_null_key": 0, "rows_examined": 2, **state(store, FACT)}


def test_key_checks_after_a_pass_examine_only_the_rows_written_since(store):
    put(store, FACT, order_lines([1, 1, 2], [1, 2, 1]))
    unique, not_null = key_checks(FACT, ["order_id", "line_no"])
    for check in (unique, not_null):
        record(check, run(check, store))
    append(store, FACT, order_lines([3, 4], [1, 1]))

    assert values(run(unique, store)) == {"duplicated_keys": 0, "rows_examined": 2, **state(store, FACT)}
    assert values(run(not_null, store)) == {"rows_with_null_key": 0, "rows_examined": 2, **state(store, FACT)}


def test_key_checks_with_nothing_written_since_a_pass_give_no_result_and_judge_the_next_rows(store):
    """No result: Dagster shows the check skipped; the next rows are judged against the last pass."""
    put(store, FACT, order_lines([1, 2], [1, 1]))
    unique, not_null = key_checks(FACT, ["order_id", "line_no"])
    for check in (unique, not_null):
        record(check, run(check, store))

    assert [evaluate(check, store) for check in (unique, not_null)] == [None, None]

    append(store, FACT, order_lines([2], [1]))
    assert values(run(unique, store))["duplicated_keys"] == 1


def test_a_tables_checks_run_in_one_step_named_for_its_asset_each_with_its_own_result(store):
    put(store, FACT, order_lines([1, 1], [1, 1]))
    step = checks_step("curated__fact_order_items", key_checks(FACT, ["order_id", "line_no"]))
    context = dg.build_asset_check_context(resources={"store": store}, instance=INSTANCE)

    assert step.node_def.name == "curated__fact_order_items_checks"
    assert {result.check_name: result.passed for result in step(context)} == {
        "unique_key": False,
        "key_not_null": True,
    }


def test_a_check_that_raises_fails_its_step_once_the_others_have_their_results(store):
    put(store, FACT, order_lines([1], [1]))

    def broken(context: dg.AssetCheckExecutionContext, store: DeltaStore) -> dg.AssetCheckResult:
        raise ValueError("the judge broke")

    unique, _ = key_checks(FACT, ["order_id", "line_no"])
    step = checks_step("demo", [TableCheck(dg.AssetCheckSpec("broken", asset=FACT), broken), unique])
    context = dg.build_asset_check_context(resources={"store": store}, instance=INSTANCE)
    results = []

    with pytest.raises(ValueError, match="the judge broke"):
        results.extend(step(context))
    assert [(result.check_name, result.passed) for result in results] == [("unique_key", True)]


def test_unique_key_catches_a_new_row_repeating_a_key_judged_before(store):
    put(store, FACT, order_lines([1, 1, 2], [1, 2, 1]))
    unique, _ = key_checks(FACT, ["order_id", "line_no"])
    record(unique, run(unique, store))
    append(store, FACT, order_lines([5, 2], [1, 1]))

    result = run(unique, store)

    assert not result.passed
    found = values(result)
    assert (found["duplicated_keys"], found["rows_examined"]) == (1, 2)
    assert "| 2        | 1       | 2      |" in found["sample"]


def remove_files_of(store: DeltaStore, key: dg.AssetKey) -> None:
    """Delete the table's data files from disk (its log still lists them): a check that opens
    one of them now fails."""
    for uri in DeltaTable(store.uri(key)).file_uris():
        Path(uri.removeprefix("file://")).unlink()


def test_unique_key_after_a_pass_opens_no_file_outside_the_range_of_the_keys_written(store):
    """The new rows' keys are looked up in the table only where they may be (the files the
    statistics put in their range), so the old files are not read: here they are gone."""
    put(store, FACT, order_lines([1, 1, 2], [1, 2, 1]))
    unique, _ = key_checks(FACT, ["order_id", "line_no"])
    record(unique, run(unique, store))
    remove_files_of(store, FACT)
    append(store, FACT, order_lines([5, 5, 6], [1, 1, 1]))

    found = values(run(unique, store))

    assert (found["duplicated_keys"], found["rows_examined"]) == (1, 3)


def test_unique_key_looks_up_the_range_of_the_whole_keys_written_not_of_their_first_column(store):
    """Lines written to an order judged before (order 1, lines 8-9) are looked up in the files of
    that range of whole keys: the file of order 1's lines 1-2 is not read (it is gone), though the
    first column alone (order 1) would read it; the line repeated is caught."""
    put(store, FACT, order_lines([1, 1], [1, 2]))
    unique, _ = key_checks(FACT, ["order_id", "line_no"])
    record(unique, run(unique, store))
    remove_files_of(store, FACT)
    append(store, FACT, order_lines([1, 1], [8, 9]))
    record(unique, run(unique, store))
    append(store, FACT, order_lines([1, 3], [9, 1]))

    found = values(run(unique, store))

    assert (found["duplicated_keys"], found["rows_examined"]) == (1, 2)
    assert "| 1        | 9       | 2      |" in found["sample"]


def test_a_failed_evaluation_vouches_for_nothing(store):
    """The next evaluation starts from the last pass, so a duplicate is reported until it is fixed."""
    put(store, FACT, order_lines([1], [1]))
    unique, _ = key_checks(FACT, ["order_id", "line_no"])
    record(unique, run(unique, store))
    append(store, FACT, order_lines([1], [1]))
    record(unique, run(unique, store))
    append(store, FACT, order_lines([7], [1]))

    found = values(run(unique, store))

    assert (found["duplicated_keys"], found["rows_examined"]) == (1, 2)


def test_key_checks_judge_a_table_partitioned_by_a_key_column_whole(store):
    """A partition column's values are in the log, not in the files the new rows are read from."""
    write_deltalake(store.uri(FACT), order_lines([1, 2], [1, 1]).to_arrow(), partition_by=["order_id"])
    _, not_null = key_checks(FACT, ["order_id", "line_no"])
    record(not_null, run(not_null, store))
    later = order_lines([3], [1]).to_arrow()
    write_deltalake(store.uri(FACT), later, mode="append", partition_by=["order_id"])

    assert values(run(not_null, store)) == {"rows_with_null_key": 0, "rows_examined": 3, **state(store, FACT)}


def test_key_checks_judge_a_replaced_table_whole(store):
    put(store, FACT, order_lines([1, 2], [1, 1]))
    unique, _ = key_checks(FACT, ["order_id", "line_no"])
    record(unique, run(unique, store))
    delta_tables.write(store.uri(FACT), order_lines([1, 2, 3], [1, 1, 1]), OVERWRITE, {})

    assert values(run(unique, store))["rows_examined"] == 3


def test_key_checks_judge_whole_a_version_number_a_restored_backup_made_again(store, settings, tmp_path):
    """A backup restored in place brings version 0 back under the same table id; the next commit
    is version 1 again, holding other rows than the version 1 the last pass vouched for."""
    put(store, FACT, order_lines([1, 2], [1, 1]))
    restore_backup = back_up(settings, tmp_path)
    append(store, FACT, order_lines([3], [1]))
    unique, _ = key_checks(FACT, ["order_id", "line_no"])
    record(unique, run(unique, store))
    restore_backup()
    append(store, FACT, order_lines([1], [1]))

    result = run(unique, store)

    assert store.version(FACT) == 1
    assert not result.passed
    assert (values(result)["duplicated_keys"], values(result)["rows_examined"]) == (1, 3)


# --- foreign keys -----------------------------------------------------------------------------


def facts_with_customer_keys(keys: list) -> pl.DataFrame:
    return pl.DataFrame(
        {"order_id": list(range(len(keys))), "customer_key": keys},
        schema_overrides={"customer_key": pl.Int64},
    )


def test_foreign_key_check_counts_orphans_and_rows_on_the_unknown_member(store):
    put(store, DIM, pl.DataFrame({"customer_key": [-1, 1, 2]}))
    put(store, FACT, facts_with_customer_keys([1, 2, 2, -1, -1, 9, 9, 8]))
    check = foreign_key_check(FACT, "customer_key", DIM, "customer_key")

    result = run(check, store)

    assert not result.passed
    found = values(result)
    assert (found["orphan_rows"], found["rows_on_unknown_member"]) == (3, 2)
    assert "| 9 " in found["sample"] and "| 8 " in found["sample"]


def test_foreign_key_check_passes_when_unknowns_point_at_the_unknown_member(store):
    put(store, DIM, pl.DataFrame({"customer_key": [-1, 1, 2]}))
    put(store, FACT, facts_with_customer_keys([1, -1, 2, -1]))
    check = foreign_key_check(FACT, "customer_key", DIM, "customer_key")

    result = run(check, store)

    assert result.passed
    # judged on the rows written since its last pass: all four, none judged before
    assert values(result) == {
        "orphan_rows": 0,
        "rows_examined": 4,
        "rows_on_unknown_member": 2,
        **state(store, FACT),
    }
    assert (check.spec.key.name, check.spec.blocking) == ("customer_key_in_dim_customer", True)


def test_foreign_key_check_with_no_fact_row_written_since_a_pass_gives_no_result(store):
    put(store, DIM, pl.DataFrame({"customer_key": [-1, 1]}))
    put(store, FACT, facts_with_customer_keys([1, -1]))
    check = foreign_key_check(FACT, "customer_key", DIM, "customer_key")
    record(check, run(check, store))

    assert evaluate(check, store) is None


def test_a_null_foreign_key_is_an_orphan(store):
    put(store, DIM, pl.DataFrame({"customer_key": [-1, 1]}))
    put(store, FACT, facts_with_customer_keys([1, None]))

    found = values(run(foreign_key_check(FACT, "customer_key", DIM, "customer_key"), store))

    assert (found["orphan_rows"], found["rows_on_unknown_member"]) == (1, 0)


# --- reconciliation ---------------------------------------------------------------------------


def raw_rows(batch: str, at: datetime, ids: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ids,
            "_ingested_at": [at] * len(ids),
            "_batch_id": [batch] * len(ids),
            "_row_number": list(range(1, len(ids) + 1)),
        },
        schema={
            "customer_id": pl.Int64,
            "_ingested_at": pl.Datetime("us", "UTC"),
            "_batch_id": pl.String,
            "_row_number": pl.Int64,
        },
    )


@pytest.fixture
def consistent(store: DeltaStore) -> DeltaStore:
    """b1: ids 1, 2, 2 (duplicate), 3 (quarantined), 4 — refined. b2: ingested later, not yet refined."""
    put(store, RAW, raw_rows("b1", T1, [1, 2, 2, 3, 4]), APPEND)
    put(store, RAW, raw_rows("b2", T2, [5, 6]), APPEND)
    quarantined = raw_rows("b1", T1, [1, 2, 2, 3, 4]).filter(pl.col("_row_number") == 4)
    put(store, QUARANTINE, quarantined.with_columns(_rules=pl.lit(["email:valid_email"])), APPEND)
    refined = raw_rows("b1", T1, [1, 2, 2, 3, 4]).filter(pl.col("_row_number").is_in([1, 3, 5]))
    put(store, REFINED, refined)
    return store


CHECK = reconciliation_check(RAW, REFINED, QUARANTINE, ["customer_id"])
T3 = datetime(2025, 1, 5, tzinfo=UTC)
COUNTS = ("raw_rows", "refined_rows", "quarantined_rows", "duplicates_removed", "equation")


def reconciled_state(store: DeltaStore, until: datetime) -> dict:
    """What the reconciliation records for its next evaluation: how far it judged, the tables."""
    tables = {key.to_user_string(): delta_tables.state(store.uri(key)) for key in (RAW, REFINED, QUARANTINE)}
    return {
        "processed_until": until.isoformat(),
        **{f"{name} id": now.table_id for name, now in tables.items()},
        **{f"{name} version": now.version for name, now in tables.items()},
        **{f"{name} content": now.content for name, now in tables.items()},
    }


def test_reconciliation_passes_on_a_consistent_trio_counting_only_processed_raw_rows(consistent):
    result = run(CHECK, consistent)

    assert result.passed
    assert values(result) == {
        "raw_rows": 5,
        "refined_rows": 3,
        "quarantined_rows": 1,
        "duplicates_removed": 1,
        "keys_missing_from_refined": 0,
        "keys_not_in_raw": 0,
        "equation": "5 raw = 3 refined + 1 quarantined + 1 duplicates",
        "raw_rows_ingested_after": "",
        **reconciled_state(consistent, T1),
    }


def test_reconciliation_gives_no_result_while_no_table_changed_since_its_pass(consistent):
    record(CHECK, run(CHECK, consistent))

    assert evaluate(CHECK, consistent) is None

    refine_later_batches(consistent, [5, 6, 7, 8])
    assert run(CHECK, consistent).passed


def refine_later_batches(store: DeltaStore, refined_ids: list[int]) -> None:
    """b3 (ids 7, 7, 8) lands; b2 and b3 are refined: `refined_ids` of them merged into refined."""
    put(store, RAW, raw_rows("b3", T3, [7, 7, 8]), APPEND)
    later = pl.concat([raw_rows("b2", T2, [5, 6]), raw_rows("b3", T3, [7, 8])])
    merge = WriteSpec(WriteMode.MERGE, keys=("customer_id",))
    put(store, REFINED, later.filter(pl.col("customer_id").is_in(refined_ids)), merge)


def test_reconciliation_after_a_pass_judges_only_the_raw_rows_ingested_since(consistent):
    record(CHECK, run(CHECK, consistent))
    refine_later_batches(consistent, [5, 6, 7, 8])

    result = run(CHECK, consistent)

    assert result.passed
    assert values(result) == {
        "raw_rows": 5,
        "refined_rows": 4,
        "quarantined_rows": 0,
        "duplicates_removed": 1,
        "keys_missing_from_refined": 0,
        "keys_not_in_raw": 0,
        "equation": "5 raw = 4 refined + 0 quarantined + 1 duplicates",
        "refined_rows_added": 4,
        "new_keys": 4,
        "raw_rows_ingested_after": T1.isoformat(),
        **reconciled_state(consistent, T3),
    }


def test_reconciliation_after_a_pass_opens_no_refined_file_of_rows_judged_before(consistent):
    """Refined is looked up only in the range of the window's keys, and its rows of the window
    only: the files of the rows judged before are not read (here they are gone)."""
    record(CHECK, run(CHECK, consistent))
    remove_files_of(consistent, REFINED)
    refine_later_batches(consistent, [5, 6, 7])

    found = values(run(CHECK, consistent))

    assert (found["raw_rows"], found["refined_rows"], found["keys_missing_from_refined"]) == (5, 3, 1)
    assert (found["refined_rows_added"], found["new_keys"]) == (3, 4)


def test_reconciliation_after_a_pass_reads_refined_whole_when_a_key_is_its_partition_column(consistent):
    """The new rows' keys are in the log, not in the files written since: refined is read whole."""
    refined = raw_rows("b1", T1, [1, 2, 2, 3, 4]).filter(pl.col("_row_number").is_in([1, 3, 5]))
    by_key = {"partition_by": ["customer_id"], "schema_mode": "overwrite"}
    write_deltalake(consistent.uri(REFINED), refined.to_arrow(), mode="overwrite", **by_key)
    record(CHECK, run(CHECK, consistent))
    put(consistent, RAW, raw_rows("b3", T3, [7, 7, 8]), APPEND)
    later = pl.concat([raw_rows("b2", T2, [5, 6]), raw_rows("b3", T3, [7, 8])])
    write_deltalake(consistent.uri(REFINED), later.to_arrow(), mode="append", partition_by=["customer_id"])

    found = values(run(CHECK, consistent))

    assert (found["keys_missing_from_refined"], found["keys_not_in_raw"], found["new_keys"]) == (0, 0, 4)
    assert found["equation"] == "5 raw = 4 refined + 0 quarantined + 1 duplicates"


def test_reconciliation_catches_a_row_of_the_new_batches_lost(consistent):
    record(CHECK, run(CHECK, consistent))
    refine_later_batches(consistent, [5, 6, 7])

    result = run(CHECK, consistent)

    assert not result.passed
    found = values(result)
    assert {k: found[k] for k in (*COUNTS, "keys_missing_from_refined")} == {
        "raw_rows": 5,
        "refined_rows": 3,
        "quarantined_rows": 0,
        "duplicates_removed": 1,
        "equation": "5 raw = 3 refined + 0 quarantined + 1 duplicates",
        "keys_missing_from_refined": 1,
    }
    assert "| 8           | missing from refined |" in found["sample"]


def test_reconciliation_catches_a_refined_row_of_the_new_batches_not_in_raw(consistent):
    record(CHECK, run(CHECK, consistent))
    refine_later_batches(consistent, [5, 6, 7, 8])
    append(consistent, REFINED, raw_rows("b3", T3, [99]))

    found = values(run(CHECK, consistent))

    assert (found["raw_rows"], found["keys_not_in_raw"]) == (5, 1)
    assert "| 99          | not in raw |" in found["sample"]


def test_reconciliation_catches_a_copy_of_a_row_judged_before(consistent):
    """An old refined row appended again: no key of the window explains the row refined gained."""
    record(CHECK, run(CHECK, consistent))
    refine_later_batches(consistent, [5, 6, 7, 8])
    append(consistent, REFINED, pl.read_delta(consistent.uri(REFINED)).filter(pl.col("customer_id") == 1))

    result = run(CHECK, consistent)

    assert not result.passed
    found = values(result)
    assert (found["refined_rows_added"], found["new_keys"], found["raw_rows"]) == (5, 4, 5)


def test_reconciliation_judges_everything_again_when_a_restored_backup_made_its_versions_again(
    consistent, settings, tmp_path
):
    """The same versions, ids and newest ingestion as the last pass, but other rows: key 8 lost."""
    restore_backup = back_up(settings, tmp_path)
    refine_later_batches(consistent, [5, 6, 7, 8])
    record(CHECK, run(CHECK, consistent))
    restore_backup()
    refine_later_batches(consistent, [5, 6, 7])

    found = values(run(CHECK, consistent))

    assert found["equation"] == "10 raw = 6 refined + 1 quarantined + 2 duplicates"
    assert (found["raw_rows_ingested_after"], found["keys_missing_from_refined"]) == ("", 1)
    assert "| 8           | missing from refined |" in found["sample"]


def test_reconciliation_never_judges_a_backup_restored_after_it_vouched_for_the_versions(
    consistent, settings, tmp_path, monkeypatch
):
    """A backup restored in place (and refined's version 1 made again, key 8 lost) just after
        `_same_tables` vouched for the versions of the last pass: the window's reads (the files added
        since, refined as it was) are of the snapshots the step kept, the ones vouched for, never a
        reload of the versions made again; their files are gone, so the step fails instead of judging
        a mix. The next run finds the versions vouched for as they were (the backup is of them): it
    judges the raw rows ingested since and finds key 8 missing."""
    restore_backup = back_up(settings, tmp_path)
    record(CHECK, run(CHECK, consistent))
    refine_later_batches(consistent, [5, 6, 7, 8])
    vouched = checks._same_tables

    def restored_after_vouching(*args: object) -> bool:
        same = vouched(*args)
        restore_backup()
        refine_later_batches(consistent, [5, 6, 7])
        return same

    monkeypatch.setattr(checks, "_same_tables", restored_after_vouching)
    with pytest.raises(FileNotFoundError):
        run(CHECK, consistent)
    monkeypatch.undo()

    found = values(run(CHECK, consistent))
    assert found["equation"] == "5 raw = 3 refined + 0 quarantined + 1 duplicates"
    assert (found["raw_rows_ingested_after"], found["keys_missing_from_refined"]) == (T1.isoformat(), 1)


def test_reconciliation_judges_everything_again_after_a_delete(consistent):
    """A replay deletes from quarantine: rows judged before may have moved (here: record 3 is lost)."""
    record(CHECK, run(CHECK, consistent))
    refine_later_batches(consistent, [5, 6, 7, 8])
    DeltaTable(consistent.uri(QUARANTINE)).delete("_row_number = 4")

    result = run(CHECK, consistent)

    assert not result.passed
    found = values(result)
    assert found["equation"] == "10 raw = 7 refined + 0 quarantined + 2 duplicates"
    assert found["raw_rows_ingested_after"] == ""
    assert "| 3           | missing from refined |" in found["sample"]


def test_reconciliation_fails_when_a_refined_row_is_deleted(consistent):
    DeltaTable(consistent.uri(REFINED)).delete("customer_id = 4")

    result = run(CHECK, consistent)

    assert not result.passed
    found = values(result)
    assert {k: found[k] for k in ("raw_rows", "refined_rows", "quarantined_rows", "duplicates_removed")} == {
        "raw_rows": 5,
        "refined_rows": 2,
        "quarantined_rows": 1,
        "duplicates_removed": 1,
    }
    assert found["equation"] == "5 raw = 2 refined + 1 quarantined + 1 duplicates"
    assert "| 4           | missing from refined |" in found["sample"]


def test_reconciliation_fails_when_a_refined_key_is_not_in_raw(consistent):
    """Same row count, different keys: 4 lost and 99 invented must not reconcile."""
    refined = raw_rows("b1", T1, [1, 2, 99])
    put(consistent, REFINED, refined)

    result = run(CHECK, consistent)

    assert not result.passed
    sample = values(result)["sample"]
    assert "| 4           | missing from refined |" in sample
    assert "| 99          | not in raw           |" in sample


def test_reconciliation_matches_no_null_key_as_a_join_would(store):
    """A null key, in raw and in refined alike, is missing from refined and not in raw."""
    put(store, RAW, raw_rows("b1", T1, [1, None, 2, 2]), APPEND)
    put(store, QUARANTINE, raw_rows("b0", T1, []).with_columns(_rules=pl.lit(["x"])), APPEND)
    put(store, REFINED, raw_rows("b1", T1, [1, None, 2]))

    found = values(run(CHECK, store))

    assert (found["keys_missing_from_refined"], found["keys_not_in_raw"]) == (1, 1)
    assert found["equation"] == "4 raw = 3 refined + 0 quarantined + 1 duplicates"


def test_reconciliation_compares_text_keys_trimmed(store):
    put(store, RAW, raw_rows("b1", T1, [0]).with_columns(customer_id=pl.lit(" p1 ")), APPEND)
    put(store, QUARANTINE, raw_rows("b0", T1, []).with_columns(customer_id=pl.lit(None, pl.String)), APPEND)
    put(store, REFINED, raw_rows("b1", T1, [0]).with_columns(customer_id=pl.lit("p1")))

    result = run(CHECK, store)

    assert result.passed
    assert values(result)["equation"] == "1 raw = 1 refined + 0 quarantined + 0 duplicates"


def schema_change_evaluator(
    table: dg.AssetsDefinition, instance: dg.DagsterInstance, store: DeltaStore
) -> Callable[[], dg.AssetCheckEvaluation]:
    """Materialises `table` with its column-schema check in the table's step of checks, and gives
    that check's evaluation."""
    step = checks_step(table.node_def.name, schema_change_checks(table.keys))

    def evaluate() -> dg.AssetCheckEvaluation:
        result = dg.materialize([table, step], instance=instance, resources={"store": store})
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    return evaluate


def test_the_schema_change_check_warns_naming_what_changed(instance: dg.DagsterInstance, store):
    columns = {"id": "int"}

    @dg.asset(key=["raw", "schema_demo"])
    def table() -> dg.MaterializeResult:
        schema = dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in columns.items()])
        return dg.MaterializeResult(metadata={"dagster/column_schema": schema})

    evaluate = schema_change_evaluator(table, instance, store)

    assert evaluate().passed
    assert evaluate().passed  # the same columns
    columns.update(id="bigint", name="string")
    changed = evaluate()
    assert not changed.passed
    assert changed.severity == dg.AssetCheckSeverity.WARN
    assert changed.description == "added: name; type changed: id: int -> bigint"


def test_a_schema_change_is_caught_when_the_run_recorded_the_tables_days_before_it(
    instance: dg.DagsterInstance, store
):
    """A run writing a day-sliced table records each day it replaced as a materialisation, just
    before the table's own (the IO manager's partition record): the check looks past them."""
    columns = {"id": "int"}

    @dg.asset(key=["curated", "days_demo"])
    def table(context) -> dg.MaterializeResult:
        for day in ("2025-01-01", "2025-01-02"):
            context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=day))
        schema = dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in columns.items()])
        return dg.MaterializeResult(metadata={"dagster/column_schema": schema})

    evaluate = schema_change_evaluator(table, instance, store)

    assert evaluate().description == "fewer than two materialisations with a column schema"
    assert evaluate().description == "no column changed"
    columns.update(id="bigint")
    changed = evaluate()
    assert (changed.passed, changed.description) == (False, "type changed: id: int -> bigint")


# --- a bucket of keys at a time ----------------------------------------------------------------


def judged_by_buckets(check: TableCheck, store: DeltaStore) -> tuple[dict, dict]:
    """The check's findings over whole tables and over buckets of two rows' keys (the tables split
    into several): samples compared as their sets of lines, in whatever order the buckets came."""

    def found(result: dg.AssetCheckResult) -> dict:
        found = values(result)
        return found | {"sample": sorted(found.get("sample", "").splitlines())}

    return found(run(check, store)), found(run(check, DeltaStore(root=store.root, key_bucket_rows=2)))


def test_key_checks_a_bucket_of_keys_at_a_time_find_what_they_find_over_the_whole_table(store):
    put(store, FACT, order_lines([1, 1, 1, 2, 2, 2, 3, None], [1, 1, 2, 1, 1, 1, 1, 1]))

    for check in key_checks(FACT, ["order_id", "line_no"]):
        whole, bucketed = judged_by_buckets(check, store)
        assert bucketed == whole and not run(check, store).passed


def test_reconciliation_a_bucket_of_keys_at_a_time_finds_what_it_finds_over_whole_tables(consistent):
    """Judged whole (a refined row deleted), then a window after a pass (a new row lost)."""
    DeltaTable(consistent.uri(REFINED)).delete("customer_id = 4")
    whole, bucketed = judged_by_buckets(CHECK, consistent)
    assert bucketed == whole
    assert (whole["keys_missing_from_refined"], whole["raw_rows_ingested_after"]) == (1, "")

    put(consistent, REFINED, raw_rows("b1", T1, [4]).with_columns(_row_number=pl.lit(5)), APPEND)
    record(CHECK, run(CHECK, consistent))
    refine_later_batches(consistent, [5, 6, 7])
    whole, bucketed = judged_by_buckets(CHECK, consistent)
    assert bucketed == whole
    assert (whole["keys_missing_from_refined"], whole["raw_rows_ingested_after"]) == (1, T1.isoformat())
