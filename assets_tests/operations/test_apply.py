"""`lakehouse apply` and its rollback on a copy of a real build, under temporary spec changes."""

from dataclasses import replace
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from assets_tests.conftest import Lakehouse, copy_of_build
from assets_tests.defs.curated.truth import true_order_lines
from assets_tests.operations.change_support import declared, renamed, retyped
from lakehouse.lib.storage import delta_tables, migrations
from lakehouse.lib.storage.audit import AUDIT_TABLE
from lakehouse.lib.storage.migrations import CastError
from lakehouse.operations.apply import (
    DONE,
    MIGRATED,
    ROLLED_BACK,
    ApplyRecord,
    apply,
    diffs,
    plan_now,
    records,
    rollback,
)
from lakehouse.operations.plan import RESET_WITH, TRANSFORM_CHANGED

MART = "curated/mart_product_performance"
PAYMENTS, QUARANTINE = "refined/payments", "quarantine/payments"


@pytest.fixture
def built(tmp_path: Path, instance: dg.DagsterInstance) -> Lakehouse:
    """Each test changes its lakehouse: a copy of one build."""
    return copy_of_build(tmp_path, instance, scale=0.01, seed=42, days=30)


def table(built: Lakehouse, name: str) -> pl.DataFrame:
    return pl.read_delta(str(built.settings.tables_dir / name))


def audit_operations(built: Lakehouse) -> list[tuple[str, str]]:
    log = table(built, "/".join(AUDIT_TABLE)).sort("at")
    return (
        log.filter(pl.col("operation").is_in(["migrate", "empty", "restore"]))
        .select("operation", "table_name")
        .rows()
    )


def test_a_rename_and_a_cast_migrate_in_one_commit_and_roll_back(
    built: Lakehouse, instance: dg.DagsterInstance
):
    code = declared(built.settings)
    code[MART] = retyped(renamed(code[MART], "units", "units_sold"), "orders", "Int32")
    before = table(built, MART).sort("product_id")  # a table's row order is its files' order
    uri = str(built.settings.tables_dir / MART)
    version = delta_tables.version(uri)

    record = apply(built.settings, built.definitions, instance, list(code.values()), print)

    after = table(built, MART).sort("product_id")
    assert delta_tables.version(uri) == version + 1  # one commit
    assert after.columns == [c if c != "units" else "units_sold" for c in before.columns]
    assert after.schema["orders"] == pl.Int32
    assert after.get_column("units_sold").equals(before.get_column("units"), check_names=False)
    assert after.get_column("orders").cast(pl.Int64).equals(before.get_column("orders"))
    assert audit_operations(built) == [("migrate", MART)]
    assert record.state == DONE and record.rebuild == []
    assert plan_now(built.settings, code.values()).tables == []  # nothing left to do

    rollback(built.settings, lambda _: None)

    assert table(built, MART).sort("product_id").equals(before)
    assert records(built.settings.data_dir)[-1].state == ROLLED_BACK


def test_a_cast_that_fails_for_some_rows_writes_nothing_and_names_them(
    built: Lakehouse, instance: dg.DagsterInstance
):
    code = declared(built.settings)
    code[MART] = retyped(code[MART], "category", "Int64")
    uri = str(built.settings.tables_dir / MART)
    version = delta_tables.version(uri)
    first = table(built, MART).sort("product_id").row(0, named=True)

    with pytest.raises(CastError, match="a declared cast fails for some rows; nothing was written") as error:
        apply(built.settings, built.definitions, instance, list(code.values()), print)

    assert f"│ {first['product_id']} " in str(error.value) and first["category"] in str(error.value)
    assert delta_tables.version(uri) == version


def test_a_misspelled_column_once_fixed_leaves_no_stale_column(
    built: Lakehouse, instance: dg.DagsterInstance
):
    """The issue's scenario: the stale all-null column stays and the right one lands after the
    bookkeeping columns; the apply drops the stale one and puts the columns in the contract's order."""
    uri = str(built.settings.tables_dir / MART)
    good = table(built, MART)
    stale = good.select(pl.exclude("category"), pl.lit(None, pl.String).alias("catgory"), pl.col("category"))
    stale.write_delta(uri, mode="overwrite", delta_write_options={"schema_mode": "overwrite"})
    code = declared(built.settings)

    [change] = plan_now(built.settings, code.values()).tables
    assert [(c.kind, c.detail) for c in change.changes] == [("column removed", "catgory")]
    apply(built.settings, built.definitions, instance, list(code.values()), print)

    assert table(built, MART).equals(good)


def test_a_changed_mart_transform_rebuilds_it_to_the_ground_truth_and_rolls_back(
    built: Lakehouse, instance: dg.DagsterInstance
):
    code = declared(built.settings)
    code["curated/mart_daily_sales"] = replace(code["curated/mart_daily_sales"], code_version="0123456789ab")
    before = table(built, "curated/mart_daily_sales")

    record = apply(built.settings, built.definitions, instance, list(code.values()), lambda _: None)

    assert record.rebuild == ["curated/mart_daily_sales"]
    rebuilt = table(built, "curated/mart_daily_sales")
    revenue = rebuilt.group_by("order_date").agg(pl.col("net_usd").sum()).sort("order_date")
    truth = (
        true_order_lines(built.settings.sources_dir)
        .filter(pl.col("status") != "cancelled")
        .group_by("order_date")
        .agg(pl.col("net_usd").sum())
        .sort("order_date")
    )
    assert revenue.rows() == truth.rows()
    assert audit_operations(built) == [("empty", "curated/mart_daily_sales")]
    [changed] = diffs(built.settings, list(code.values()), record)  # deterministic: no row moved
    assert (changed.added, changed.removed, changed.changed, changed.changed_columns) == (0, 0, 0, {})
    assert changed.headline.days_changed.is_empty()
    assert changed.headline.total_after == truth.get_column("net_usd").sum()

    rollback(built.settings, lambda _: None)

    assert table(built, "curated/mart_daily_sales").equals(before)


def test_an_apply_killed_before_its_rebuild_is_finished_by_a_rerun(
    built: Lakehouse, instance: dg.DagsterInstance
):
    """The state an apply killed after emptying a table leaves: its record unfinished, naming what
    it still has to rebuild, and the table empty (one commit, as the apply writes it)."""
    code = declared(built.settings)
    uri = str(built.settings.tables_dir / MART)
    good = table(built, MART)
    versions = {key: delta_tables.version(str(built.settings.tables_dir / key)) for key in code}
    ApplyRecord("20250101T000000-killed", "2025-01-01T00:00:00+00:00", versions, [MART], state=MIGRATED).save(
        built.settings.data_dir
    )
    recorded = {"dagster.code_version": code[MART].code_version, "lakehouse.change": "20250101T000000-killed"}
    migrations.rewrite(uri, migrations.Migration(columns={}), recorded, emptied=True)

    [pending] = plan_now(built.settings, code.values()).tables
    assert (pending.table, pending.rebuild_text()) == (MART, "rebuild the whole table")
    record = apply(built.settings, built.definitions, instance, list(code.values()), lambda _: None)

    assert (record.id, record.state) == ("20250101T000000-killed", DONE)
    business = pl.exclude("^_.*$")  # when the rows were built differs
    assert (
        table(built, MART)
        .select(business)
        .sort("product_id")
        .equals(good.select(business).sort("product_id"))
    )
    assert plan_now(built.settings, code.values()).tables == []


def test_a_changed_refined_transform_rebuilds_it_whole_from_raw_with_its_quarantine(
    built: Lakehouse, instance: dg.DagsterInstance
):
    """Refined, its quarantine and the reconciliation are reset together: every raw row is refined
    or quarantined once again, the same rows as before, and the (blocking) reconciliation passes."""
    code = declared(built.settings)
    for name in (PAYMENTS, QUARANTINE):  # one step writes both: one code version
        code[name] = replace(code[name], code_version="0123456789ab")
    business = pl.exclude("^_.*$")
    refined_before = table(built, PAYMENTS).select(business).sort("payment_id")
    quarantined_before = table(built, QUARANTINE).select("_batch_id", "_row_number").sort(pl.all())

    plans = {t.table: t for t in plan_now(built.settings, code.values()).tables}
    assert [c.kind for c in plans[QUARANTINE].changes] == [TRANSFORM_CHANGED, RESET_WITH]
    assert plans[PAYMENTS].emptied_first and plans[QUARANTINE].emptied_first
    assert plans["curated/fact_payments"].days is not None  # downstream, over its days
    record = apply(built.settings, built.definitions, instance, list(code.values()), lambda _: None)

    assert record.state == DONE
    assert table(built, PAYMENTS).select(business).sort("payment_id").equals(refined_before)
    assert (
        table(built, QUARANTINE).select("_batch_id", "_row_number").sort(pl.all()).equals(quarantined_before)
    )
    emptied = [t for op, t in audit_operations(built) if op == "empty"]
    assert sorted(emptied) == sorted([PAYMENTS, QUARANTINE, "curated/dim_date"])
    assert plan_now(built.settings, code.values()).tables == []  # the code version recorded


def test_a_refined_table_whose_raw_lost_rows_is_not_rebuilt_whole(built: Lakehouse):
    """A delete in raw (retention, an erasure) means raw no longer holds all refined was built from."""
    code = declared(built.settings)
    code[PAYMENTS] = replace(code[PAYMENTS], code_version="0123456789ab")
    raw = str(built.settings.tables_dir / "raw" / "payments")
    expired = pl.read_delta(raw).get_column("payment_id").min()
    DeltaTable(raw).delete(f"payment_id = '{expired}'")  # as retention or an erasure would

    plans = {t.table: t for t in plan_now(built.settings, code.values()).tables}

    assert not plans[PAYMENTS].emptied_first and QUARANTINE not in plans
    assert plans[PAYMENTS].rebuild_text() == (
        "rebuild incrementally: rows written from now on take the change "
        "(raw.payments no longer holds every batch (DELETE): rows would be lost)"
    )


def test_a_fact_migrates_a_file_at_a_time_in_one_commit_keeping_its_statistics(
    built: Lakehouse, instance: dg.DagsterInstance
):
    """Each old file streamed into a new one, all swapped in by one commit, with statistics that
    still let a reader skip files by day. An apply killed while writing them leaves the table as it
    was (the files are in no commit), and runs again."""
    fact = "curated/fact_payments"
    uri = str(built.settings.tables_dir / fact)
    before = table(built, fact).sort("payment_id")
    old_files = delta_tables.add_actions(uri)
    version = delta_tables.version(uri)
    code = declared(built.settings)
    code[fact] = renamed(code[fact], "method", "payment_method")
    [plan] = [t for t in plan_now(built.settings, code.values()).tables if t.table == fact]

    killed = migrations.stage(uri, plan.migration)  # written, never committed

    assert delta_tables.version(uri) == version and table(built, fact).sort("payment_id").equals(before)
    apply(built.settings, built.definitions, instance, list(code.values()), lambda _: None)

    after = table(built, fact).sort("payment_id")
    assert delta_tables.version(uri) == version + 1  # one commit (a rename rebuilds nothing)
    assert after.get_column("payment_method").equals(before.get_column("method"), check_names=False)
    assert after.drop("payment_method").equals(before.drop("method"))
    new_files = delta_tables.add_actions(uri)
    assert len(killed) == new_files.height == old_files.height  # a new file for each old one
    assert new_files.get_column("path").str.contains("part-migrated-").all()
    assert not {a.path for a in killed} & set(new_files.get_column("path"))  # the killed files: in no commit
    by_day = ["num_records", "min.settled_date", "max.settled_date", "null_count.payment_method"]
    assert new_files.select(by_day).sort(by_day).rows() == (
        old_files.select(*by_day[:-1], pl.col("null_count.method")).sort(by_day[:-1]).rows()
    )
