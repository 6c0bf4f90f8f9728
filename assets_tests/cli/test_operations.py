"""`lakehouse report`, `restore` and `maintain`, against `home` (its run history on disk) or a copy."""

from pathlib import Path

import polars as pl
import pytest

from assets_tests.cli.conftest import INSTANCE_CONFIG, Invoke, home_invoker, quarantine_defects
from assets_tests.conftest import Lakehouse


def test_report_writes_the_html_and_says_whether_the_data_is_ok(
    home_cli: Invoke, home: tuple[Path, Lakehouse]
):
    _, built = home
    result = home_cli("report")

    assert result.exit_code == 0
    path = built.settings.data_dir / "reports" / "quality.html"
    checks = len(built.outcome.checks)
    quarantined = quarantine_defects(built).height
    assert result.output.splitlines() == [
        f"OK: {checks} checks (0 failed, 0 warnings), 0 anomalies flagged, "
        f"{quarantined:,} rows in quarantine, {lines_held_back(built):,} rows held back, "
        "0 stale assets, over 1 run",
        f"report written to {path}",
    ]
    assert "<svg" in path.read_text()


def lines_held_back(built: Lakehouse) -> int:
    """Order lines whose order is in quarantine: held back from the fact (a warning of the run)."""
    refined = built.settings.tables_dir / "refined"
    items, orders = (pl.scan_delta(str(refined / name)) for name in ("order_items", "orders"))
    return items.join(orders, on="order_id", how="anti").select(pl.len()).collect().item()


def test_report_output_is_relative_to_where_it_was_asked_even_before_the_first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """On a lakehouse nothing has built yet (its report draws no chart: a month's draws ~45, ~4 s
    of CPU, which the test above pays already)."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    monkeypatch.chdir(elsewhere)

    result = home_invoker(home)("report", "--output", "out/q.html", "--runs", "1")

    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "no runs have written to this lakehouse yet",
        f"report written to {elsewhere / 'out' / 'q.html'}",
    ]
    assert "<html" in (elsewhere / "out" / "q.html").read_text()


def test_report_rejects_zero_runs(home_cli: Invoke):
    result = home_cli("report", "--runs", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--runs'" in result.output


def test_restore_rolls_a_fixed_table_back_in_a_new_version(
    home_copy: Path, home: tuple[Path, Lakehouse], monkeypatch: pytest.MonkeyPatch
):
    _, built = home
    monkeypatch.setenv("LAKEHOUSE_PII_CLEAR_PURPOSE", "check the fixed email")  # emails are masked
    cli = home_invoker(home_copy)
    where = f"customer_id = {quarantine_defects(built).filter(table='customers')['key'][0]}"
    email = f"select email from quarantine.customers where {where}"
    before = cli("sql", "--format", "csv", email).output
    fixed = cli("quarantine", "fix", "customers", "--set", "email='x@example.com'", "--where", where)
    assert (fixed.exit_code, cli("sql", "--format", "csv", email).output) == (0, "email\nx@example.com\n")

    result = cli("restore", "quarantine.customers", "--version", "0", "--yes")

    assert result.output == "quarantine.customers is now version 2, with the content of version 0\n"
    assert cli("sql", "--format", "csv", email).output == before
    newest = cli("history", "quarantine.customers", "--limit", "1").output.splitlines()[1]
    assert newest.split()[:4] == ["2", *newest.split()[1:3], "RESTORE"]


def test_maintain_compacts_every_table_and_keeps_its_rows(home_copy: Path, home: tuple[Path, Lakehouse]):
    _, built = home
    cli = home_invoker(home_copy)

    result = cli("maintain")

    assert result.output.splitlines()[-1] == "maintained 44 tables"  # with the 2 file-version registries
    orders = cli("sql", "--format", "csv", "select count(*) as n from refined.orders").output
    assert orders == f"n\n{built.manifest['clean_rows']['orders']}\n"
