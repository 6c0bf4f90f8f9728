"""The `lakehouse` command line, against the demo lakehouse built once for the session."""

import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from assets_tests.conftest import Lakehouse, build_lakehouse
from assets_tests.defs.curated.truth import true_order_lines
from lakehouse.cli import main
from lakehouse.defs.curated import dictionary
from lakehouse.defs.curated.contracts import MartFunnelContract
from lakehouse.simulator import CLICKSTREAM_DEFECTS_FILE, DEFECTS_FILE, INVENTORY_DEFECTS_FILE


@pytest.fixture
def cli(lakehouse: Lakehouse, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(lakehouse.settings.data_dir))

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_sql_prints_a_table(cli, lakehouse: Lakehouse):
    result = cli("sql", "select count(*) as lines from curated.fact_order_items")
    assert result.exit_code == 0
    assert f"{lakehouse.manifest['totals']['fact_order_items']}" in result.output
    assert "lines" in result.output


def test_sql_as_json_gives_exact_decimals(cli, lakehouse: Lakehouse):
    result = cli("sql", "--format", "json", "select sum(net_usd) as net from curated.mart_daily_sales")
    rows = json.loads(result.output)
    assert Decimal(rows[0]["net"]) == Decimal(lakehouse.manifest["totals"]["net_revenue_usd_excl_cancelled"])


def test_sql_as_csv_reads_a_query_from_a_file(cli, tmp_path):
    query = tmp_path / "q.sql"
    query.write_text("select currency, count(*) as n from refined.orders group by 1 order by 1")
    result = cli("sql", "--format", "csv", "--file", str(query))
    lines = result.output.splitlines()
    assert lines[0] == "currency,n"
    assert [line.split(",")[0] for line in lines[1:]] == ["AUD", "CAD", "EUR", "GBP", "USD"]


def test_sql_takes_named_parameters(cli, lakehouse: Lakehouse):
    truth = true_order_lines(lakehouse.settings.sources_dir)
    day = truth["order_date"].max()
    query = (
        "select count(*) as n from curated.fact_order_items where order_date = $day and currency = $currency"
    )

    result = cli("sql", "--format", "json", "--param", f"day={day}", "-p", "currency=EUR", query)

    expected = truth.filter(pl.col("order_date") == day, pl.col("currency") == "EUR").height
    assert json.loads(result.output) == [{"n": expected}]


def test_sql_rejects_a_parameter_without_a_value(cli):
    result = CliRunner().invoke(main, ["sql", "--param", "day", "select $day"])
    assert result.exit_code == 2
    assert "expected NAME=VALUE" in result.output


def test_tables_describe_prints_the_contracts_descriptions(cli):
    result = cli("tables", "--describe")

    assert result.exit_code == 0
    block = result.output.split("curated.mart_funnel")[1].split("\n\n")[0]
    assert MartFunnelContract.__doc__.split(":")[0] in block
    assert "conversion_rate" in block and "purchased / sessions." in block


def test_dictionary_writes_the_data_dictionary(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(dictionary, "DICTIONARY_PATH", tmp_path / "DATA_DICTIONARY.md")

    result = cli("dictionary")

    assert result.exit_code == 0
    assert (tmp_path / "DATA_DICTIONARY.md").read_text() == dictionary.render_dictionary()


def test_sql_is_read_only_and_says_why(cli):
    result = CliRunner().invoke(main, ["sql", "drop view curated.dim_date"])
    assert result.exit_code == 1
    assert "read-only" in result.output


def test_tables_lists_every_layer_with_rows_and_versions(cli, lakehouse: Lakehouse):
    result = cli("tables")
    listed = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert len(listed) == 41  # 39 tables, plus the audit log and the quality metrics
    assert listed["raw.orders"][2] == f"{lakehouse.manifest['source_rows']['orders']:,}"
    assert {name.split(".")[0] for name in listed} == {
        "raw",
        "refined",
        "quarantine",
        "curated",
        "audit",
        "quality",
    }


def test_run_refuses_to_mix_sources_of_another_scale(cli):
    result = CliRunner().invoke(main, ["run", "--scale", "0.5"])
    assert result.exit_code == 1
    assert "holds a build of scale 0.01, seed 42" in result.output
    assert "make clean" in result.output


def test_generate_refuses_to_mix_new_sources_into_built_tables(cli):
    result = CliRunner().invoke(main, ["generate", "--seed", "7"])
    assert result.exit_code == 1
    assert "new sources would be mixed into them" in result.output


def test_generate_rejects_impossible_arguments_without_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(tmp_path))
    for args in (["--scale", "0"], ["--days", "0"], ["--advance", "0"]):
        result = CliRunner().invoke(main, ["generate", *args])
        assert result.exit_code == 2, args
        assert "Invalid value" in result.output
    result = CliRunner().invoke(main, ["generate", "--advance", "1"])
    assert result.exit_code == 1
    assert "no simulation" in result.output


def test_sql_without_a_query_says_how_to_give_one(cli):
    result = CliRunner().invoke(main, ["sql"])
    assert result.exit_code == 2
    assert "give a query" in result.output


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Lakehouse]:
    """A lakehouse built through an instance of its own in a DAGSTER_HOME, as `lakehouse run` does.

    (The session's instance is in memory: a command cannot open it.)
    """
    root = tmp_path_factory.mktemp("home")
    (root / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(root)) as instance:
        built = build_lakehouse(root / "data", instance, scale=0.003, seed=5, days=30)
    return root, built


@pytest.fixture
def home_cli(home: tuple[Path, Lakehouse], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Commands against `home`. They change directory and pin settings: all undone after the test."""
    root, built = home
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(root))
    monkeypatch.setenv("LAKEHOUSE_DATA_DIR", str(built.settings.data_dir))
    monkeypatch.setenv("LAKEHOUSE_LANDING_DIR", str(built.settings.landing_dir))

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_report_writes_the_html_and_says_whether_the_data_is_ok(home_cli, home):
    _, built = home
    result = home_cli("report")

    assert result.exit_code == 0
    path = built.settings.data_dir / "reports" / "quality.html"
    checks = len(built.outcome.checks)
    sources = built.settings.sources_dir
    defects = pl.read_parquet(
        [sources / DEFECTS_FILE, sources / CLICKSTREAM_DEFECTS_FILE, sources / INVENTORY_DEFECTS_FILE]
    )
    quarantined = defects.filter(pl.col("handling") == "quarantine").height
    assert result.output.splitlines() == [
        f"OK: {checks} checks (0 failed, 0 warnings), 0 anomalies flagged, "
        f"{quarantined:,} rows in quarantine, 0 stale assets, over 1 run",
        f"report written to {path}",
    ]
    assert "<svg" in path.read_text()


def test_report_output_is_relative_to_where_it_was_asked(home_cli, tmp_path: Path):
    result = home_cli("report", "--output", "out/q.html", "--runs", "1")

    assert result.exit_code == 0
    assert (tmp_path / "out" / "q.html").is_file()
    assert result.output.splitlines()[-1] == f"report written to {tmp_path / 'out' / 'q.html'}"


def test_report_rejects_zero_runs(home_cli):
    result = CliRunner().invoke(main, ["report", "--runs", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--runs'" in result.output


def test_lineage_lists_the_checks_of_the_run_that_wrote_the_version(home_cli, home):
    _, built = home
    result = home_cli("lineage", "refined.orders")

    checks = sorted(c.check for c in built.outcome.checks if c.asset == "refined/orders")
    listed = result.output.split("checks in that run:\n")[1].splitlines()
    assert sorted(listed) == [f"  ✓ {name}" for name in checks]


@pytest.mark.e2e  # the command in a fresh process
def test_simulate_keeps_the_sources_alive_until_interrupted(tmp_path: Path):
    """A real `lakehouse simulate` process: it advances, serves the API, and stops cleanly on Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from lakehouse import simulator

    sources = tmp_path / "sources"
    simulator.generate(sources, scale=0.002, seed=3, days=10)
    batches_before = len(list((sources / simulator.CLICKSTREAM_DIR).glob(simulator.CLICKSTREAM_BATCHES)))
    env = {**os.environ, "LAKEHOUSE_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    command = [str(Path(sys.executable).parent / "lakehouse"), "simulate", "--interval", "0.5", "--port", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [process.stdout.readline() for _ in range(4)]  # the API, the plan, two advances
    url = lines[0].split(" at ")[1].strip()
    with urllib.request.urlopen(f"{url}?start=2025-01-01&end=2025-01-02", timeout=10) as answer:
        rates = json.loads(answer.read())
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=60)

    assert process.returncode == 0, errors
    assert {row["date"] for row in rates["data"]} == {"2025-01-01", "2025-01-02"}
    assert lines[2].split(" day ")[1].startswith("11: +")
    assert lines[3].split(" day ")[1].startswith("12: +")
    assert "+1 inventory snapshots" in lines[3]
    ticks = int(rest.splitlines()[-1].split("after ")[1].split(" ")[0])
    assert ticks >= 2
    days = simulator.read_params(sources).days
    assert days == 10 + ticks
    assert rest.splitlines()[-1] == f"stopped after {ticks} advance(s); the simulation holds {days} days"
    assert "Traceback" not in errors
    # exactly what `generate` of that many days writes
    expected = simulator.generate(tmp_path / "expected", scale=0.002, seed=3, days=days)
    assert json.loads((sources / "manifest.json").read_text()) == expected
    batches = len(list((sources / simulator.CLICKSTREAM_DIR).glob(simulator.CLICKSTREAM_BATCHES)))
    assert batches == expected["clickstream"]["batches"] > batches_before
    snapshots = sorted((sources / simulator.INVENTORY_DIR).glob("inventory_*.parquet.done"))
    assert len(snapshots) == expected["inventory"]["files"] == days


def test_backfill_rebuilds_the_days_asked_for_and_says_which(home_cli):
    result = home_cli(
        "backfill", "--from", "2025-01-05", "--to", "2025-01-06", "--asset", "curated/fact_payments"
    )

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "backfilling 2025-01-05..2025-01-06 of curated/fact_payments …"
    assert "  ✓ curated/fact_payments" in result.output
    assert "(2025-01-05)" in result.output and "(2025-01-06)" in result.output
    assert "succeeded" in result.output


def test_backfill_names_what_it_cannot_do(home_cli):
    unknown = home_cli(
        "backfill", "--from", "2025-01-05", "--to", "2025-01-06", "--asset", "curated/dim_date"
    )
    assert unknown.exit_code == 2
    assert "curated/dim_date: not one of curated/fact_order_items, curated/fact_payments" in unknown.output
    backwards = home_cli("backfill", "--from", "2025-01-06", "--to", "2025-01-05")
    assert backwards.exit_code == 1
    assert "backfill range ends (2025-01-05) before it starts (2025-01-06)" in backwards.output
