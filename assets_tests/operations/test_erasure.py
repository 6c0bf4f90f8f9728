"""Erasure on request, as an auditor checks it: a customer erased in a copy of a build is found in
no table version, data file or log entry; totals are unchanged; the certificate's signature holds;
and a source that still holds the person does not bring them back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from assets_tests.conftest import Lakehouse, copy_of_build
from lakehouse.operations.erasure import erase_and_certify, traces, verify

# Totals an erasure must not change: the person's facts stay, with the unknown member.
TOTALS = {
    "curated/fact_order_items": pl.col("net_usd").sum(),
    "curated/fact_payments": pl.col("amount_usd").sum(),
    "curated/fact_sessions": pl.len(),
    "curated/mart_daily_sales": pl.col("net_usd").sum(),
    "refined/orders": pl.len(),
    "refined/events": pl.len(),
}


@pytest.fixture
def built(tmp_path: Path, instance: dg.DagsterInstance) -> Lakehouse:
    return copy_of_build(tmp_path, instance, scale=0.01, seed=42, days=30)


def totals(tables: Path) -> dict[str, object]:
    return {
        table: pl.scan_delta(str(tables / table)).select(total).collect().item()
        for table, total in TOTALS.items()
    }


def rows_of(tables: Path, customer_id: int) -> dict[str, int]:
    """Rows naming the customer in every version the log still has, of every table."""
    found = {}
    for log in sorted(tables.glob("*/*/_delta_log")):
        table = DeltaTable(str(log.parent))
        for version in [c["version"] for c in table.history()]:
            frame = pl.scan_delta(str(log.parent), version=version)
            if "customer_id" in frame.collect_schema():
                held = frame.filter(pl.col("customer_id").cast(pl.String) == str(customer_id))
                if count := held.select(pl.len()).collect().item():
                    found[f"{log.parent.parent.name}/{log.parent.name}@{version}"] = count
    return found


def test_an_erased_customer_is_nowhere_and_stays_out(built: Lakehouse, instance: dg.DagsterInstance):
    tables = built.settings.tables_dir
    customers = pl.read_delta(str(tables / "refined" / "customers"))
    sessions = pl.read_delta(str(tables / "refined" / "sessions")).get_column("customer_id")
    customer = customers.filter(pl.col("customer_id").is_in(sessions.implode())).row(0, named=True)
    customer_id = customer["customer_id"]
    email = pl.read_delta(str(tables / "raw" / "customers")).filter(pl.col("customer_id") == customer_id)[
        "email"
    ][0]
    identifiers = (email.strip().lower(), customer["email_hash"])
    assert list(traces(tables, identifiers))  # the scan finds the person before
    before = totals(tables)

    path, certificate = erase_and_certify(built.settings, None, email)

    assert list(traces(tables, identifiers)) == []
    assert rows_of(tables, customer_id) == {}
    assert totals(tables) == before
    assert certificate["files_holding_identifiers"] == 0
    assert {t["verification"]["result"] for t in certificate["tables"]} == {0}
    affected = {t["table"]: t["rows_affected"] for t in certificate["tables"] if t["rows_affected"]}
    assert affected["raw/customers"] >= 1
    assert {"refined/customers", "curated/dim_customer", "refined/sessions", "refined/events"} <= set(
        affected
    )
    assert email not in path.read_text() and customer["email_hash"] not in path.read_text()
    stored = json.loads(path.read_text())
    assert verify(stored, built.settings.erasure_key)
    assert not verify({**stored, "tables": stored["tables"][1:]}, built.settings.erasure_key)
    assert not verify(stored, "another key")

    # The shop database still holds the person and sends them again: raw keeps them out.
    with sqlite3.connect(built.settings.sources_dir / "shop.db") as db:
        db.execute(
            "UPDATE customers SET updated_at = (SELECT max(updated_at) FROM customers) WHERE customer_id = ?",
            (customer_id,),
        )
    outcome = built.build(instance)

    assert outcome.success
    assert [f"{c.asset}:{c.check}" for c in outcome.checks if not c.passed] == []
    assert rows_of(tables, customer_id) == {}
    assert list(traces(tables, identifiers)) == []
