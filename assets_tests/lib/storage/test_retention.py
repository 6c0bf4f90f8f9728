"""Retention policies refuse, when they load, any policy contradicting another or a promise."""

import pytest

from lakehouse.defs.orchestration.retention import RETENTION_POLICIES, retention_policies
from lakehouse.lib.storage.retention import Retention, RetentionConflict, RetentionPolicies

QUARANTINE = Retention(rows_days=90, date_column="_quarantined_at", expires_with=("raw/orders",))


def test_the_declared_policies_load_and_describe_each_table():
    described = {table: policy.describe() for table, policy in RETENTION_POLICIES.tables.items()}

    assert described["quarantine/orders"] == (
        "rows: 90 days by _quarantined_at (with their records in raw/orders); history: 7 days"
    )
    assert described["audit/log"] == "rows: 730 days by at; history: 7 days"
    assert described["quality/metrics"] == "rows: 400 days by at; history: 7 days"
    assert described["curated/fact_order_items"] == "rows: kept; history: 7 days"
    assert RETENTION_POLICIES.of("raw/orders") == Retention()  # undeclared: the default
    assert RETENTION_POLICIES.backup_days == 35


@pytest.mark.parametrize(
    ("tables", "backup_days", "message"),
    [
        (
            {"curated/dim_date": Retention(history_days=3)},
            35,
            "curated/dim_date: history of 3 days is shorter than the 7 days that time travel",
        ),
        (
            {"raw/orders": Retention(rows_days=30, date_column="_ingested_at")},
            30,
            "raw/orders: rows kept 30 days, but its reconciliation (raw = refined + quarantined",
        ),
        (
            {"refined/orders": Retention(rows_days=400, date_column="order_at")},
            35,
            "refined/orders: rows kept 400 days, but its reconciliation",
        ),
        (
            {"quarantine/orders": QUARANTINE},
            120,
            "backups kept 120 days would keep quarantine/orders's rows past their 90-day retention",
        ),
        (
            {
                "quarantine/order_items": Retention(rows_days=90, date_column="_quarantined_at"),
                "raw/products": Retention(rows_days=60, date_column="_ingested_at"),
            },
            35,
            "raw/products: rows kept 60 days, but quarantine/order_items keeps records 90 days and a replay",
        ),
        ({}, 0, "backups kept 0 days: keep the newest at least a day"),
    ],
    ids=["short-history", "raw-rows", "refined-rows", "backups-outlive-rows", "lookup", "no-backup"],
)
def test_a_contradiction_is_refused_naming_the_table_and_the_promise(tables, backup_days, message):
    with pytest.raises(RetentionConflict) as refused:
        retention_policies(tables, backup_days)

    assert message in str(refused.value)


def test_every_contradiction_is_listed_at_once():
    tables = {"audit/log": Retention(history_days=1), "refined/events": Retention(history_days=2)}

    with pytest.raises(RetentionConflict) as refused:
        RetentionPolicies(tables, backup_days=35)

    assert str(refused.value).count("\n  - ") == 2


def test_landing_files_are_kept_at_least_a_day():
    with pytest.raises(RetentionConflict, match="landing files kept 0 days: keep them at least a day"):
        RetentionPolicies({}, backup_days=35, landing_days=0)
    assert RetentionPolicies({}, backup_days=35).landing_days == 30


def test_a_row_retention_needs_a_date_column():
    with pytest.raises(ValueError, match="needs at least 1 day and a date column"):
        Retention(rows_days=30)
