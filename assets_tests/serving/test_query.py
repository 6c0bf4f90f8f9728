from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from lakehouse.serving.catalog import publish_catalog
from lakehouse.serving.query import (
    CatalogNotFoundError,
    TableInfo,
    connect_read_only,
    format_result,
    list_tables,
    run_query,
)
from lakehouse.serving.sandbox import SandboxError

RESULT = pa.table(
    {
        "day": pa.array([date(2024, 1, 2), None], pa.date32()),
        "at": pa.array([datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None], pa.timestamp("us", "UTC")),
        "amount": pa.array([Decimal("1234.50"), Decimal("-0.05")], pa.decimal128(10, 2)),
        "note": ['say "hi", then\nleave', None],
        "ok": [True, False],
        "ratio": [0.25, float("nan")],
        "tags": [["a", "b"], []],
    }
)


@pytest.fixture
def published(tables_dir: Path, catalog_path: Path) -> Path:
    write_deltalake(
        tables_dir / "curated" / "sales",
        pa.table({"region": ["north", "south", "north"], "amount": [10, 20, 30]}),
    )
    write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [1, 2], "kind": ["a", "b"]}))
    publish_catalog(tables_dir, catalog_path)
    return catalog_path


def test_a_missing_catalog_says_how_to_build_it(catalog_path: Path):
    with pytest.raises(CatalogNotFoundError, match="run `make run`"), connect_read_only(catalog_path):
        pass
    with pytest.raises(CatalogNotFoundError, match=str(catalog_path)):
        run_query(catalog_path, "SELECT 1")


def test_run_query_returns_an_arrow_table_and_binds_parameters(published: Path):
    result = run_query(
        published,
        "SELECT region, sum(amount) AS total FROM curated.sales WHERE amount > $min "
        "GROUP BY region ORDER BY region",
        {"min": 5},
    )

    assert result.to_pydict() == {"region": ["north", "south"], "total": [40, 20]}


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE curated.copy AS SELECT 1 AS x",
        "DROP VIEW curated.sales",
        "INSERT INTO _catalog.tables (layer) VALUES ('x')",
    ],
)
def test_the_catalog_cannot_be_changed_through_a_query(published: Path, statement: str):
    with pytest.raises(SandboxError, match="statements are not allowed: the SQL sandbox is read-only"):
        run_query(published, statement)

    assert run_query(published, "SELECT count(*) AS n FROM curated.sales")["n"].to_pylist() == [3]


def test_list_tables(published: Path):
    assert list_tables(published) == [
        TableInfo(schema="curated", table="sales", columns=2, rows=3, version=0),
        TableInfo(schema="raw", table="events", columns=2, rows=2, version=0),
    ]


def test_table_format_shows_every_row_up_to_the_maximum():
    text = format_result(RESULT, "table")

    assert "┌" in text
    assert "1234.50" in text
    assert "2024-01-02 03:04:05 UTC" in text
    assert text.endswith("\n2 rows")


def test_table_format_says_how_many_rows_it_left_out():
    result = pa.table({"n": list(range(120))})

    text = format_result(result, "table", max_rows=50)

    assert "│ 49  │" in text
    assert "│ 50  │" not in text
    assert text.endswith("\n120 rows, 70 not shown (showing the first 50)")


def test_csv_format_is_rfc_4180():
    assert format_result(RESULT, "csv") == (
        "day,at,amount,note,ok,ratio,tags\r\n"
        '2024-01-02,2024-01-02T03:04:05+00:00,1234.50,"say ""hi"", then\nleave",true,0.25,'
        '"[""a"", ""b""]"\r\n'
        ",,-0.05,,false,,[]\r\n"
    )


def test_json_format_is_an_array_of_objects_with_exact_decimals():
    assert json.loads(format_result(RESULT, "json")) == [
        {
            "day": "2024-01-02",
            "at": "2024-01-02T03:04:05+00:00",
            "amount": "1234.50",
            "note": 'say "hi", then\nleave',
            "ok": True,
            "ratio": 0.25,
            "tags": ["a", "b"],
        },
        {
            "day": None,
            "at": None,
            "amount": "-0.05",
            "note": None,
            "ok": False,
            "ratio": None,
            "tags": [],
        },
    ]


def test_a_query_result_formats_in_every_format(published: Path):
    result = run_query(
        published, "SELECT sum(amount)::DECIMAL(10, 2) AS total, now() AS at FROM curated.sales"
    )

    assert json.loads(format_result(result, "json"))[0]["total"] == "60.00"
    assert format_result(result, "csv").startswith("total,at\r\n60.00,")
    assert "60.00" in format_result(result, "table")
    assert result.schema.field("at").type == pa.timestamp("us", "UTC")


def test_repeated_column_names_get_suffixes(published: Path):
    result = run_query(
        published,
        "SELECT s.amount, t.amount FROM curated.sales s JOIN curated.sales t USING (region)"
        " WHERE s.amount = 20",
    )

    assert json.loads(format_result(result, "json")) == [{"amount": 20, "amount_1": 20}]


def test_intervals_and_nanoseconds_are_shown_as_duckdb_text(published: Path):
    result = run_query(
        published,
        "SELECT INTERVAL 3 DAY + INTERVAL 2 HOUR AS waited, "
        "TIMESTAMP_NS '2024-01-01 00:00:00.123456789' AS precise",
    )

    assert format_result(result, "csv") == (
        "waited,precise\r\n3 days 02:00:00,2024-01-01 00:00:00.123456789\r\n"
    )
    assert "3 days 02:00:00" in format_result(result, "table")


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        format_result(RESULT, "xml")  # type: ignore[arg-type]


def _python(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


PUBLISHER = """
    import sys, time
    from pathlib import Path
    import pyarrow as pa
    from deltalake import write_deltalake
    from lakehouse.serving.catalog import publish_catalog

    tables_dir, catalog_path, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    print("ready", flush=True)
    for _ in range(rounds):
        write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [1] * 10}), mode="append")
        publish_catalog(tables_dir, catalog_path)
        time.sleep(0.02)
"""


@pytest.mark.e2e  # a second Python process importing the lakehouse: its point
def test_queries_succeed_while_another_process_republishes(tables_dir: Path, catalog_path: Path):
    write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [1] * 10}))
    publish_catalog(tables_dir, catalog_path)
    rounds = 20
    publisher = _python(PUBLISHER, tables_dir, catalog_path, rounds)
    assert publisher.stdout.readline() == "ready\n"  # from here on it publishes: query meanwhile
    seen = []
    while True:
        finished = publisher.poll() is not None
        result = run_query(
            catalog_path,
            "SELECT (SELECT count(*) FROM raw.events) AS n, version, row_count "
            "FROM _catalog.tables WHERE table_name = 'events'",
        )
        seen.append(result.to_pylist()[0])
        if finished and len(seen) >= rounds:
            break
        time.sleep(0.005)

    assert publisher.returncode == 0
    for row in seen:  # each answer comes from one whole published catalog
        assert row["n"] == row["row_count"] == 10 * (row["version"] + 1)
    versions = [row["version"] for row in seen]
    assert versions == sorted(versions)
    assert len(set(versions)) > 2  # the queries did overlap the publishes
    assert versions[-1] == rounds


READER = """
    import sys
    from pathlib import Path
    from lakehouse.serving.query import connect_read_only, run_query

    catalog_path = Path(sys.argv[1])
    sql = "SELECT count(*) FROM raw.events"
    with connect_read_only(catalog_path) as con:
        print(con.execute(sql).fetchone()[0], flush=True)
        sys.stdin.readline()  # the test publishes meanwhile
        print(con.execute(sql).fetchone()[0], flush=True)
    print(run_query(catalog_path, sql).column(0)[0].as_py(), flush=True)
"""


@pytest.mark.e2e  # a second Python process importing the lakehouse: its point
def test_an_open_reader_never_blocks_a_publish(tables_dir: Path, catalog_path: Path):
    write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [1, 2]}))
    publish_catalog(tables_dir, catalog_path)
    reader = _python(READER, catalog_path)
    assert reader.stdout.readline() == "2\n"

    write_deltalake(tables_dir / "raw" / "events", pa.table({"id": [3]}), mode="append")
    with ThreadPoolExecutor(1) as pool:
        summary = pool.submit(publish_catalog, tables_dir, catalog_path).result(timeout=10)
    assert summary.tables == {"raw.events": 1}

    output, _ = reader.communicate("go\n", timeout=30)
    assert output.splitlines() == ["2", "3"]  # the open connection keeps its snapshot
