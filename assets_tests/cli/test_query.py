"""`lakehouse sql`, `tables`, `dictionary`, `history` and `lineage`, against the demo lakehouse."""

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from assets_tests.cli.conftest import Invoke, invoker
from assets_tests.conftest import Lakehouse
from assets_tests.defs.curated.truth import true_order_lines
from lakehouse.definitions import default_definitions
from lakehouse.defs.curated import dictionary
from lakehouse.defs.curated.clickstream import MART_FUNNEL_TABLE
from lakehouse.lib.column_lineage import ColumnLineage


def test_sql_prints_a_table(cli: Invoke, lakehouse: Lakehouse):
    result = cli("sql", "select count(*) as lines from curated.fact_order_items")
    assert result.exit_code == 0
    assert f"{lakehouse.manifest['totals']['fact_order_items']}" in result.output
    assert "lines" in result.output


def test_sql_as_json_gives_exact_decimals(cli: Invoke, lakehouse: Lakehouse):
    result = cli("sql", "--format", "json", "select sum(net_usd) as net from curated.mart_daily_sales")
    rows = json.loads(result.output)
    assert Decimal(rows[0]["net"]) == Decimal(lakehouse.manifest["totals"]["net_revenue_usd_excl_cancelled"])


def test_sql_as_csv_reads_a_query_from_a_file(cli: Invoke, tmp_path: Path):
    query = tmp_path / "q.sql"
    query.write_text("select currency, count(*) as n from refined.orders group by 1 order by 1")
    result = cli("sql", "--format", "csv", "--file", str(query))
    lines = result.output.splitlines()
    assert lines[0] == "currency,n"
    assert [line.split(",")[0] for line in lines[1:]] == ["AUD", "CAD", "EUR", "GBP", "USD"]


def test_sql_takes_named_parameters(cli: Invoke, lakehouse: Lakehouse):
    truth = true_order_lines(lakehouse.settings.sources_dir)
    day = truth["order_date"].max()
    query = (
        "select count(*) as n from curated.fact_order_items where order_date = $day and currency = $currency"
    )

    result = cli("sql", "--format", "json", "--param", f"day={day}", "-p", "currency=EUR", query)

    expected = truth.filter(pl.col("order_date") == day, pl.col("currency") == "EUR").height
    assert json.loads(result.output) == [{"n": expected}]


def test_sql_rejects_a_parameter_without_a_value(cli: Invoke):
    result = cli("sql", "--param", "day", "select $day")
    assert result.exit_code == 2
    assert "expected NAME=VALUE" in result.output


def test_sql_is_read_only_and_says_why(cli: Invoke):
    result = cli("sql", "drop view curated.dim_date")
    assert result.exit_code == 1
    assert "read-only" in result.output


def test_sql_cannot_overwrite_a_live_table_file_and_says_why(cli: Invoke, lakehouse: Lakehouse):
    table = DeltaTable(lakehouse.settings.tables_dir / "curated" / "dim_date")
    data_file = Path(table.file_uris()[0].removeprefix("file://"))
    content = data_file.read_bytes()

    result = cli("sql", f"COPY (SELECT DATE '1999-01-01' AS date) TO '{data_file}' (FORMAT parquet)")

    assert result.exit_code == 1
    assert "COPY statements are not allowed: the SQL sandbox is read-only" in result.output
    assert data_file.read_bytes() == content


def test_sql_cannot_read_files_outside_the_tables_and_says_why(cli: Invoke):
    result = cli("sql", "select * from read_csv('/etc/passwd')")
    assert result.exit_code == 1
    assert "reading or writing files is not allowed in the SQL sandbox" in result.output


def test_sql_stops_a_statement_at_the_configured_timeout(cli: Invoke, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAKEHOUSE_SQL_TIMEOUT_SECONDS", "1")
    result = cli("sql", "select count(*) from range(1000000000) a, range(1000000) b where a.range < b.range")
    assert result.exit_code == 1
    assert "stopped after 1 s, the SQL sandbox's time limit (LAKEHOUSE_SQL_TIMEOUT_SECONDS)" in result.output


def test_sql_without_a_query_says_how_to_give_one(cli: Invoke):
    result = cli("sql")
    assert result.exit_code == 2
    assert "give a query" in result.output


def test_tables_lists_every_layer_with_rows_and_versions(cli: Invoke, lakehouse: Lakehouse):
    result = cli("tables")
    listed = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert len(listed) == 44  # 42 tables, plus the audit log and the quality metrics
    assert listed["raw.orders"][2] == f"{lakehouse.manifest['source_rows']['orders']:,}"
    assert {name.split(".")[0] for name in listed} == {
        "raw",
        "refined",
        "quarantine",
        "curated",
        "audit",
        "quality",
    }


def test_tables_describe_prints_the_contracts_descriptions(cli: Invoke):
    result = cli("tables", "--describe")

    assert result.exit_code == 0
    block = result.output.split("curated.mart_funnel")[1].split("\n\n")[0]
    assert MART_FUNNEL_TABLE.description.split(":")[0] in block
    assert "conversion_rate" in block and "purchased / sessions." in block


def test_dictionary_writes_the_data_dictionary(cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(dictionary, "DICTIONARY_PATH", tmp_path / "DATA_DICTIONARY.md")

    result = cli("dictionary")

    assert result.exit_code == 0
    lineage = ColumnLineage.from_definitions(default_definitions())
    assert (tmp_path / "DATA_DICTIONARY.md").read_text() == dictionary.render_dictionary(lineage)


def test_lineage_lists_the_checks_of_the_run_that_wrote_the_version(home_cli: Invoke, home):
    _, built = home
    result = home_cli("lineage", "refined.orders")

    checks = sorted(c.check for c in built.outcome.checks if c.asset == "refined/orders")
    listed = result.output.split("checks in that run:\n")[1].splitlines()
    assert sorted(listed) == [f"  ✓ {name}" for name in checks]


def test_history_shows_the_build_that_merged_every_clean_order(home_cli: Invoke, home):
    _, built = home
    lines = home_cli("history", "refined.orders").output.splitlines()

    assert lines[0].split() == ["version", "at", "(UTC)", "operation", "mode", "rows", "+/-", "run"]
    version, _, _, *rest = lines[1].split()
    clean = built.manifest["clean_rows"]["orders"]
    assert [version, *rest] == ["0", "WRITE", "merge", f"+{clean}/-0", built.outcome.run_id]
    assert len(lines) == 2


def test_lineage_of_a_column_prints_its_path_down_to_raw():
    result = invoker()("lineage", "curated.fact_payments", "--column", "amount_usd")

    assert result.exit_code == 0
    assert result.output == (
        "curated.fact_payments.amount_usd\n"
        "  refined.exchange_rates.usd_rate\n"
        "    raw.exchange_rates.usd_rate\n"
        "  refined.payments.amount\n"
        "    raw.payments.amount\n"
        "\nraw columns: raw.exchange_rates.usd_rate, raw.payments.amount\n"
    )


def test_lineage_of_an_unknown_column_names_the_tables_columns():
    result = invoker()("lineage", "curated.fact_payments", "--column", "amount_eur")

    assert result.exit_code == 1
    assert (
        "curated.fact_payments has no column amount_eur with lineage; its columns: payment_id,"
        in result.output
    )
