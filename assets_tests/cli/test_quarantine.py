"""`lakehouse quarantine …` against `home`, held to the simulator's defect manifest."""

from pathlib import Path

import polars as pl

from assets_tests.cli.conftest import Invoke, home_invoker, quarantine_defects
from assets_tests.conftest import Lakehouse


def table_rows(output: str) -> list[list[str]]:
    """The cells of each row of a printed table (`format_result`'s box)."""
    body = output.split("╞", 1)[1].splitlines()[1:]
    return [[cell.strip() for cell in line.strip("│").split("┆")] for line in body if line.startswith("│")]


def test_list_counts_the_planted_defects_per_table_and_rule(home_cli: Invoke, home: tuple[Path, Lakehouse]):
    """A malformed payment line breaks every column's rule as well as its own, well_formed_line."""
    _, built = home
    records = quarantine_defects(built).filter(~pl.col("table").str.ends_with("_files"))
    planted = {(t, r, str(n)) for t, r, n in records.group_by("table", "rule").len().iter_rows()}

    listed = {tuple(row) for row in table_rows(home_cli("quarantine", "list").output)}

    malformed = records.filter(pl.col("rule") == "_rescued_data:well_formed_line").height
    assert malformed > 0
    assert planted <= listed
    assert {(t, n) for t, _, n in listed - planted} == {("payments", str(malformed))}


def test_show_samples_the_records_that_broke_a_rule(home_cli: Invoke, home: tuple[Path, Lakehouse]):
    _, built = home
    planted = quarantine_defects(built).filter(pl.col("rule") == "email:valid_email")

    result = home_cli("quarantine", "show", "quarantine.customers", "--rule", "email:valid_email")

    assert result.exit_code == 0
    header = [cell.strip() for cell in result.output.splitlines()[1].strip("│").split("┆")]
    shown = [dict(zip(header, row, strict=True)) for row in table_rows(result.output)]
    assert sorted(row["customer_id"] for row in shown) == sorted(planted["key"].to_list())


def test_a_record_fixed_and_replayed_reaches_refined_and_the_catalog(home_copy: Path, home):
    _, built = home
    customer = quarantine_defects(built).filter(pl.col("rule") == "email:valid_email")["key"][0]
    cli = home_invoker(home_copy)
    where = f"customer_id = {customer}"

    fixed = cli("quarantine", "fix", "customers", "--set", "email='fixed@example.com'", "--where", where)
    replayed = cli("quarantine", "replay", "customers", "--where", where)
    in_refined = cli("sql", "--format", "csv", f"select count(*) as n from refined.customers where {where}")

    assert fixed.output == "fixed 1 record(s) in quarantine.customers\n"
    assert replayed.output == (
        "1 record(s) replayed: 1 now in refined.customers, 0 still failing (left in quarantine)\n"
    )
    assert in_refined.output == "n\n1\n"


def test_files_lists_the_files_quarantined_whole_with_their_rule(
    home_cli: Invoke, home: tuple[Path, Lakehouse]
):
    """(The box shortens the files' paths: the rules say which defect each row is.)"""
    _, built = home
    planted = quarantine_defects(built).filter(pl.col("table").str.ends_with("_files"))

    rows = table_rows(home_cli("quarantine", "files").output)

    assert sorted((file_set, rule) for file_set, _, rule, *_ in rows) == sorted(
        (table.removesuffix("_files"), rule) for table, rule in planted.select("table", "rule").iter_rows()
    )


def test_user_errors_are_one_line_messages(home_cli: Invoke):
    expected = [
        (("show", "nope"), 2, "Invalid value for TABLE: one of customers, products, orders"),
        (("fix", "customers", "--set", "email", "--where", "true"), 2, "each --set is COLUMN=SQL"),
        (("replay", "customers", "--where", "nocol = 1"), 1, 'unable to find column "nocol"'),
        (("release-file", "nope", "x.csv"), 2, "Invalid value for FILE_SET: one of payments"),
        (("release-file", "payments", "x.csv"), 1, "x.csv is not in quarantine/payments_files"),
    ]
    for args, code, message in expected:
        result = home_cli("quarantine", *args)
        assert (result.exit_code, message in result.output) == (code, True), result.output
        assert "Traceback" not in result.output
