"""Quarantine workflow on a real lakehouse: fix a record, replay it, and it flows downstream."""

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse, copy_of_build
from assets_tests.selected_build import build_selected, reached_from
from lakehouse.components.declared import refined_tables
from lakehouse.defs.refined.customers import CUSTOMERS
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.storage.history import commit_at
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.operations.replay import fix, replay, rules_summary, show


@pytest.fixture
def built(tmp_path: Path, instance: dg.DagsterInstance) -> Lakehouse:
    """Each test changes its lakehouse: a copy of one build."""
    return copy_of_build(tmp_path, instance, scale=0.01, seed=42, days=30)


def test_list_and_show_quarantine_by_table_and_rule(built: Lakehouse):
    store = DeltaStore(root=str(built.settings.tables_dir))
    summary = rules_summary(store, list(refined_tables()))
    defects = pl.read_parquet(built.settings.sources_dir / "defects.parquet").filter(
        pl.col("table") == "customers", pl.col("handling") == "quarantine"
    )
    customers = summary.filter(pl.col("table") == "customers")
    expected = defects.group_by("rule").len().sort("rule")
    assert customers.select("rule", pl.col("rows").cast(pl.UInt32)).rows() == expected.rows()
    sample = show(store, CUSTOMERS, rule="email:valid_email")
    assert sample.height == expected.filter(pl.col("rule") == "email:valid_email").item(0, "len")


def test_a_fixed_record_is_replayed_into_refined_once_and_leaves_quarantine(
    built: Lakehouse, instance: dg.DagsterInstance
):
    store = DeltaStore(root=str(built.settings.tables_dir))
    bad = show(store, CUSTOMERS, rule="email:valid_email").row(0, named=True)
    customer = bad["customer_id"]
    quarantined_before = store.scan(CUSTOMERS.quarantine_key).select(pl.len()).collect().item()

    assert fix(store, CUSTOMERS, {"email": "'fixed@example.com'"}, f"customer_id = {customer}") == 1
    fixed = store.version(CUSTOMERS.quarantine_key)
    result = replay(store, CUSTOMERS, Pseudonymiser(key=built.settings.pii_key), f"customer_id = {customer}")

    assert (result.candidates, result.replayed, result.still_failing) == (1, 1, 0)
    # written by the refined asset's own spec, recording the quarantine version it replayed from
    replayed = commit_at(built.settings.tables_dir, "refined/customers")
    assert (replayed.operation, replayed.write_mode) == ("MERGE", "merge")
    assert replayed.input_versions == {"quarantine/customers": fixed}
    removed = commit_at(built.settings.tables_dir, "quarantine/customers")
    assert (removed.version, removed.input_versions) == (fixed + 1, {"quarantine/customers": fixed})
    refined = store.scan(CUSTOMERS.refined_key).filter(pl.col("customer_id") == customer).collect()
    assert refined.height == 1
    quarantine = store.scan(CUSTOMERS.quarantine_key)
    assert quarantine.filter(pl.col("customer_id") == customer).collect().height == 0
    assert quarantine.select(pl.len()).collect().item() == quarantined_before - 1
    log = pl.read_delta(str(built.settings.tables_dir / "audit" / "log")).sort("at")
    assert log.filter(pl.col("operation").is_in(["fix", "replay"])).get_column("operation").to_list() == [
        "fix",
        "replay",
    ]
    fixed_details = log.filter(pl.col("operation") == "fix").item(0, "details")
    assert json.loads(fixed_details) == {"set": ["email"], "where": f"customer_id = {customer}", "rows": 1}
    audited = (built.settings.tables_dir / "audit" / "log").rglob("*")
    assert not [p for p in audited if p.is_file() and b"fixed@example.com" in p.read_bytes()]

    # The next build carries it into the dimension, and raw still reconciles (what the refined
    # table reaches is rebuilt: no source sends anything new).
    outcome = build_selected(built, instance, reached_from("refined/customers"))
    assert outcome.success
    assert [f"{c.asset}:{c.check}" for c in outcome.checks if not c.passed] == []
    dim = pl.read_delta(str(built.settings.tables_dir / "curated" / "dim_customer"))
    assert dim.filter(pl.col("customer_id") == customer).height == 1


def test_a_record_that_still_breaks_its_rule_stays_in_quarantine(built: Lakehouse):
    store = DeltaStore(root=str(built.settings.tables_dir))
    quarantined = store.scan(CUSTOMERS.quarantine_key).select(pl.len()).collect().item()
    result = replay(store, CUSTOMERS, Pseudonymiser(key=built.settings.pii_key))
    assert (result.candidates, result.replayed, result.still_failing) == (quarantined, 0, quarantined)
    assert store.scan(CUSTOMERS.quarantine_key).select(pl.len()).collect().item() == quarantined


def test_fixing_a_column_the_table_does_not_have_is_an_error_and_changes_nothing(built: Lakehouse):
    store = DeltaStore(root=str(built.settings.tables_dir))
    before = store.version(CUSTOMERS.quarantine_key)

    expected = r"quarantine\.customers has no column emial; its columns: _row_number, customer_id, email, "
    with pytest.raises(ValueError, match=expected):
        fix(store, CUSTOMERS, {"emial": "'fixed@example.com'"}, "customer_id > 0")

    assert store.version(CUSTOMERS.quarantine_key) == before
