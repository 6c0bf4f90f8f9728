"""`lakehouse bench --queries` over the demo lakehouse: every query answered, the same way through the
catalog and from native tables (no timing is asserted: the figures live in the README)."""

import json
from pathlib import Path

from click.testing import CliRunner

from assets_tests.conftest import Lakehouse
from lakehouse.cli import main
from lakehouse.operations.serving_benchmark import ANALYTICAL, QUERIES_DIR, queries, run


def test_the_readme_queries_and_the_analytical_ones_are_benchmarked():
    examples = sorted(path.stem for path in QUERIES_DIR.glob("*.sql"))
    assert list(queries()) == [*examples, *ANALYTICAL]
    assert "sales_of_a_day" in examples and len(ANALYTICAL) == 9


def test_the_catalog_and_the_native_tables_give_the_same_answers(lakehouse: Lakehouse):
    report = run(lakehouse.settings.catalog_path, repeats=1, echo=lambda _: None)

    assert [t.name for t in report.timings] == list(queries())
    assert all(t.same_answer and t.rows > 0 for t in report.timings)
    assert all(t.catalog_seconds > 0 and t.native_seconds > 0 for t in report.timings)
    revenue_lines = {t.name: t.rows for t in report.timings}["repeat_customers"]
    assert revenue_lines == 1


def test_bench_queries_prints_each_query_and_writes_json(lakehouse: Lakehouse, tmp_path: Path):
    out = tmp_path / "queries.json"
    args = ["--data-dir", str(lakehouse.settings.data_dir), "bench", "--queries", "--json", str(out)]
    result = CliRunner().invoke(main, args)

    assert result.exit_code == 0, result.output
    for name in queries():
        assert name in result.output
    assert "ANSWERS DIFFER" not in result.output
    results = json.loads(out.read_text())
    assert [t["name"] for t in results["timings"]] == list(queries())
    assert results["total_ratio"] > 0
