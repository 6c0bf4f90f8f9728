"""`lakehouse report`, against a lakehouse whose runs are recorded in an instance on disk."""

from pathlib import Path

import polars as pl

from assets_tests.cli.conftest import Invoke
from assets_tests.conftest import Lakehouse
from lakehouse.simulator import CLICKSTREAM_DEFECTS_FILE, DEFECTS_FILE, INVENTORY_DEFECTS_FILE


def test_report_writes_the_html_and_says_whether_the_data_is_ok(
    home_cli: Invoke, home: tuple[Path, Lakehouse]
):
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


def test_report_output_is_relative_to_where_it_was_asked(home_cli: Invoke, tmp_path: Path):
    result = home_cli("report", "--output", "out/q.html", "--runs", "1")

    assert result.exit_code == 0
    assert (tmp_path / "out" / "q.html").is_file()
    assert result.output.splitlines()[-1] == f"report written to {tmp_path / 'out' / 'q.html'}"


def test_report_rejects_zero_runs(home_cli: Invoke):
    result = home_cli("report", "--runs", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--runs'" in result.output
