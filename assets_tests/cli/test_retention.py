"""`lakehouse retention` on a built lakehouse: what would go, what goes, and what is held."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from assets_tests.cli.conftest import home_invoker, invoker
from lakehouse.components.declared import file_sets
from lakehouse.definitions import build_definitions
from lakehouse.defs.orchestration.retention import RETENTION_POLICIES
from lakehouse.defs.raw.files import pending_files
from lakehouse.lib.storage import delta_tables, expiry, landing_expiry
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.settings import get_settings
from lakehouse.sources.landing import LandingZone


def rows(tables: Path, layer: str) -> dict[str, int]:
    return {p.name: delta_tables.row_count(str(p)) for p in sorted((tables / layer).iterdir())}


def reconciliation_results(data: Path) -> dict[str, bool]:
    """Every refined table's reconciliation with raw, judged over whole tables (a fresh instance)."""
    definitions = build_definitions(get_settings(data))
    keys = [k for k in definitions.resolve_asset_graph().asset_check_keys if k.name == "reconciles_with_raw"]
    job = dg.define_asset_job("reconcile", selection=dg.AssetSelection.checks(*keys))
    with dg.DagsterInstance.ephemeral() as instance:
        result = (
            dg.Definitions.merge(definitions, dg.Definitions(jobs=[job]))
            .resolve_job_def("reconcile")
            .execute_in_process(instance=instance)
        )
    return {e.asset_key.path[-1]: e.passed for e in result.get_asset_check_evaluations()}


def test_retention_previews_expires_quarantine_with_raw_and_holds_a_fix(home_copy: Path):
    cli, tables = home_invoker(home_copy), home_copy / "data" / "tables"
    quarantined, raw = rows(tables, "quarantine"), rows(tables, "raw")
    versions = {name: delta_tables.version(uri) for name, uri in expiry.table_uris(tables).items()}
    fixed = cli("quarantine", "fix", "customers", "--set", "email='x@example.org'", "--where", "true")
    assert fixed.exit_code == 0
    later = datetime.now(UTC) + timedelta(days=91)

    preview = cli("retention", "apply", "--dry-run", "--as-of", f"{later:%Y-%m-%d}")

    record_tables = ["customers", "events", "order_items", "orders", "payments", "products"]
    assert all(quarantined[t] for t in record_tables)  # every one has records to expire
    lines = preview.output.splitlines()
    for table in record_tables:
        (line,) = [x for x in lines if x.startswith(f"  quarantine/{table} ")]
        verb = "held" if table == "customers" else "would go"
        n = quarantined[table]
        assert f": {n} rows {verb}; {n} records of raw/{table}; by rule " in line
    assert "a fix made " in next(x for x in lines if x.startswith("  quarantine/customers "))
    expired = sum(quarantined[t] for t in record_tables)
    totals = f"{len(versions)} tables: {expired} rows and {expired} raw records would go, "
    assert lines[-1].startswith(totals)
    assert ", 1 tables held; " in lines[-1]
    unchanged = {name: delta_tables.version(uri) for name, uri in expiry.table_uris(tables).items()}
    fix = {name: versions[name] + 1 for name in ("quarantine/customers", "audit/log")}  # and its audit
    assert unchanged == versions | fix

    # As of 91 days on (the CLI applies as of now only): the library the command runs.
    expiry.apply(str(tables), RETENTION_POLICIES, now=later)

    after_quarantine, after_raw = rows(tables, "quarantine"), rows(tables, "raw")
    for table in record_tables:
        gone = 0 if table == "customers" else quarantined[table]
        assert (after_quarantine[table], after_raw[table]) == (quarantined[table] - gone, raw[table] - gone)
    assert after_quarantine["payments_files"] == quarantined["payments_files"]  # whole files: kept
    assert reconciliation_results(home_copy / "data") == dict.fromkeys(
        [*record_tables, "exchange_rates", "supplier_inventory"], True
    )
    audit = pl.read_delta(str(tables / "audit" / "log")).filter(pl.col("operation") == "retention")
    entries = (json.loads(d) | {"table": t} for t, d in audit.select("table_name", "details").rows())
    details = {e.pop("table"): e for e in entries if "rows_deleted" in e}
    assert details["quarantine/orders"]["rows_deleted"] == quarantined["orders"]
    assert details["quarantine/orders"]["records_deleted"] == {"raw/orders": quarantined["orders"]}
    assert "quarantine/customers" not in details

    applied = cli("retention", "apply")  # now: nothing more is due; the catalog is republished
    assert applied.exit_code == 0
    assert applied.output.splitlines()[-1].startswith(f"{len(versions)} tables: 0 rows")


def test_show_prints_every_declared_policy_and_the_backups():
    shown = invoker()("retention", "show").output.splitlines()

    policies = {line.split()[0]: line.split(maxsplit=1)[1] for line in shown}
    assert policies["quarantine/orders"] == (
        "rows: 90 days by _quarantined_at (with their records in raw/orders); history: 7 days"
    )
    assert policies["backups"] == "35 days (the newest is always kept)"
    assert policies["landing"] == "files: 30 days after they landed, once raw holds them"
    assert len(shown) == len(RETENTION_POLICIES.tables) + 2
    assert len({line.index(policies[line.split()[0]]) for line in shown}) == 1  # one column


def data_files(landing: Path) -> set[str]:
    """The landing zone's data files (markers aside), by path within it."""
    return {
        f.relative_to(landing).as_posix() for f in landing.rglob("*") if f.is_file() and f.suffix != ".done"
    }


def test_landing_files_go_once_raw_holds_them_and_never_one_still_needed(home_copy: Path):
    """As of 31 days on, every landing file raw holds goes (with its marker); held: the files
    quarantined whole (a release reads them again), one landed but not ingested yet, and one
    re-sent with other content. Nothing becomes pending, nothing pending is lost."""
    cli, data = home_invoker(home_copy), home_copy / "data"
    landing, tables = data / "sources" / "landing", str(data / "tables")
    before = data_files(landing)
    payments = sorted((landing / "payments").glob("settlement_*.csv"))
    new = payments[-1].with_name("settlement_2099-01-01.csv")
    new.write_text(payments[-1].read_text())
    payments[0].write_text(payments[0].read_text() + "\n")  # re-sent with other content
    quarantined = {
        Path(b).name
        for name in ("payments_files", "supplier_inventory_files")
        for b in pl.read_delta(f"{tables}/quarantine/{name}").get_column("_batch_id").to_list()
    }
    later = datetime.now(UTC) + timedelta(days=31)

    preview = cli("retention", "apply", "--dry-run", "--as-of", f"{later:%Y-%m-%d}")
    results = {r.folder: r for r in landing_expiry.expire(landing, tables, 30, now=later)}

    assert quarantined and preview.exit_code == 0
    held = {
        reason: sum(r.held.get(reason, 0) for r in results.values())
        for reason in (landing_expiry.QUARANTINED, landing_expiry.NOT_IN_RAW, landing_expiry.CHANGED)
    }
    assert held == {
        landing_expiry.QUARANTINED: len(quarantined),
        landing_expiry.NOT_IN_RAW: 1,
        landing_expiry.CHANGED: 1,
    }
    assert sorted(results) == ["landing/clickstream", "landing/inventory", "landing/payments"]
    kept = data_files(landing)
    assert len(before) + 1 == len(kept) + sum(r.files for r in results.values())
    assert {Path(f).name for f in kept} == quarantined | {new.name, payments[0].name}
    assert not [m for m in landing.rglob("*.done") if not m.with_suffix("").exists()]  # markers went along
    assert (
        f"{sum(r.files for r in results.values())} landing files would go" in preview.output.splitlines()[-1]
    )
    store, zone = DeltaStore(root=tables), LandingZone(root=str(landing))
    assert [p.name for p in pending_files(file_sets()["payments"], zone, store)] == sorted(
        [payments[0].name, new.name]
    )
    audited = pl.read_delta(f"{tables}/audit/log").filter(pl.col("table_name").str.starts_with("landing/"))
    files_deleted = [json.loads(d)["files_deleted"] for d in audited.get_column("details").to_list()]
    assert sum(files_deleted) == sum(r.files for r in results.values())
