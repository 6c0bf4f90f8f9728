"""The `lakehouse` command line, against the demo lakehouse built once for the session."""

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from assets_tests.conftest import Lakehouse
from lakehouse.cli import main


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


def test_sql_is_read_only_and_says_why(cli):
    result = CliRunner().invoke(main, ["sql", "drop view curated.dim_date"])
    assert result.exit_code == 1
    assert "read-only" in result.output


def test_tables_lists_every_layer_with_rows_and_versions(cli, lakehouse: Lakehouse):
    result = cli("tables")
    listed = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert len(listed) == 23
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
