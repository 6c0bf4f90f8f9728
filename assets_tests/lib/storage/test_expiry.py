"""Enforcing retention on small tables: expired quarantined records go with their raw records,
a dry run counts the same and changes nothing, a fix not replayed holds them, all audited."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

from lakehouse.lib.storage import audit, delta_tables, expiry
from lakehouse.lib.storage.retention import Retention, RetentionPolicies
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

DAY = datetime(2026, 1, 1, tzinfo=UTC)
QUARANTINE = Retention(rows_days=90, date_column="_quarantined_at", expires_with=("raw/orders",))
POLICIES = RetentionPolicies({"quarantine/orders": QUARANTINE}, backup_days=35)
QUARANTINE_SPEC = WriteSpec(WriteMode.APPEND, direct_pii=("email",))


def lakehouse_with_quarantine(root: Path) -> None:
    """raw/orders: 5 records, 3 quarantined: 2 on DAY (rule a, rule b), 1 sixty days later (rule a)."""
    raw = pl.DataFrame(
        {"_batch_id": ["b1"] * 5, "_row_number": [0, 1, 2, 3, 4], "email": ["x@example.org"] * 5}
    )
    delta_tables.write(str(root / "raw" / "orders"), raw, WriteSpec(WriteMode.APPEND), {})
    quarantined = raw.filter(pl.col("_row_number") < 3).with_columns(
        pl.Series("_rules", [["a"], ["b"], ["a"]]),
        pl.Series("_quarantined_at", [DAY, DAY, DAY + timedelta(days=60)]).dt.replace_time_zone("UTC"),
    )
    delta_tables.write(str(root / "quarantine" / "orders"), quarantined, QUARANTINE_SPEC, {})


def counts(root: Path) -> tuple[int, int]:
    return tuple(delta_tables.row_count(str(root / layer / "orders")) for layer in ("raw", "quarantine"))


def test_a_dry_run_reports_the_expired_records_by_rule_and_changes_nothing(tmp_path: Path):
    lakehouse_with_quarantine(tmp_path)

    results = expiry.apply(tmp_path, POLICIES, now=DAY + timedelta(days=100), dry_run=True)

    by_table = {r.table: r for r in results}
    quarantine = by_table["quarantine/orders"]
    assert (quarantine.rows, quarantine.records) == (2, {"raw/orders": 2})
    assert quarantine.by_rule == {"a": 1, "b": 1}
    assert quarantine.describe(dry_run=True) == (
        "quarantine/orders (before 2026-01-11 00:00 UTC): 2 rows would go; 2 records of raw/orders; "
        "by rule a 1, b 1"
    )
    assert by_table["raw/orders"].rows == 0  # raw has no policy of its own
    assert counts(tmp_path) == (5, 3)
    assert [delta_tables.version(str(tmp_path / t / "orders")) for t in ("raw", "quarantine")] == [0, 0]
    assert not (tmp_path / "audit").exists()


def test_apply_deletes_expired_records_with_their_raw_records_keeping_the_write_spec(tmp_path: Path):
    lakehouse_with_quarantine(tmp_path)

    expiry.apply(tmp_path, POLICIES, now=DAY + timedelta(days=100))

    assert counts(tmp_path) == (3, 1)
    raw_left = pl.read_delta(str(tmp_path / "raw" / "orders")).get_column("_row_number").sort().to_list()
    assert raw_left == [2, 3, 4]  # the record still quarantined, and the two that were never
    assert delta_tables.spec_of(str(tmp_path / "quarantine" / "orders")) == QUARANTINE_SPEC  # masked still
    log = pl.read_delta(str(tmp_path / "audit" / "log")).filter(pl.col("operation") == "retention")
    (entry,) = log.rows(named=True)
    assert entry["table_name"] == "quarantine/orders"
    assert json.loads(entry["details"]) == {
        "by_rule": {"a": 1, "b": 1},
        "cutoff": "2026-01-11T00:00:00+00:00",
        "policy": "rows: 90 days by _quarantined_at (with their records in raw/orders); history: 7 days",
        "records_deleted": {"raw/orders": 2},
        "rows_deleted": 2,
    }
    properties = DeltaTable(str(tmp_path / "raw" / "orders")).metadata().configuration
    assert properties[expiry.LOG_RETENTION] == "interval 7 days"

    again = {r.table: r.rows for r in expiry.apply(tmp_path, POLICIES, now=DAY + timedelta(days=100))}
    assert again["quarantine/orders"] == 0 and counts(tmp_path) == (3, 1)  # idempotent


def test_a_fix_not_yet_replayed_holds_the_quarantine(tmp_path: Path):
    lakehouse_with_quarantine(tmp_path)
    audit.record(tmp_path, operation="fix", table="quarantine/orders", version=1, details={"rows": 1})

    (held,) = [r for r in expiry.apply(tmp_path, POLICIES, now=DAY + timedelta(days=100)) if r.rows]

    assert held.held.startswith("a fix made ") and held.held.endswith("(`lakehouse quarantine replay`)")
    assert counts(tmp_path) == (5, 3)
    audit.record(tmp_path, operation="replay", table="refined/orders", version=1, details={})
    expiry.apply(tmp_path, POLICIES, now=DAY + timedelta(days=100))
    assert counts(tmp_path) == (3, 1)


def test_history_past_its_retention_is_vacuumed_and_audited(tmp_path: Path):
    uri = str(tmp_path / "raw" / "orders")
    for version in range(3):  # three overwrites: two files no longer referenced
        frame = pl.DataFrame({"_batch_id": [f"b{version}"], "_row_number": [0]})
        delta_tables.write(uri, frame, WriteSpec(WriteMode.OVERWRITE), {})

    now = datetime.now(UTC)
    preview = expiry.apply(tmp_path, POLICIES, now=now + timedelta(days=8), dry_run=True)
    assert [r.files for r in expiry.apply(tmp_path, POLICIES, now=now, dry_run=True)] == [0]  # a week kept
    assert [r.files for r in preview] == [2]
    assert len(list(Path(uri).glob("*.parquet"))) == 3

    expiry.apply(tmp_path, POLICIES, now=now + timedelta(days=8))

    assert len(list(Path(uri).glob("*.parquet"))) == 1
    log = pl.read_delta(str(tmp_path / "audit" / "log"))
    assert json.loads(log.filter(pl.col("operation") == "retention")["details"][0])["files_vacuumed"] == 2


def test_a_table_without_row_identities_expires_by_its_date_column(tmp_path: Path):
    """The audit log (no `_batch_id`): entries older than its 730 days go, the others stay."""
    uri = str(tmp_path / "audit" / "log")
    at = [DAY - timedelta(days=800), DAY - timedelta(days=700), DAY]
    operations = ["write", "fix", "replay"]
    entries = pl.DataFrame(
        {
            "at": at,
            "operation": operations,
            "table_name": "refined/orders",
            "version": 1,
            "run_id": "",
            "details": "",
        },
        schema=audit.SCHEMA,
    )
    delta_tables.write(uri, entries, WriteSpec(WriteMode.OVERWRITE), {})
    policies = RetentionPolicies({"audit/log": Retention(rows_days=730, date_column="at")}, backup_days=35)

    (result,) = expiry.apply(tmp_path, policies, now=DAY)

    assert (result.rows, result.records) == (1, {})
    kept = pl.read_delta(uri).filter(pl.col("operation") != "retention")  # the deletion's own entry
    assert sorted(kept["operation"].to_list()) == ["fix", "replay"]
