"""The build run from the command line: a failed run still publishes what it wrote; the summary."""

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse import simulator
from lakehouse.definitions import build_definitions
from lakehouse.defs.serving.catalog import CATALOG
from lakehouse.lib.partitions import range_tags
from lakehouse.operations.runner import BuildOutcome, CheckOutcome, progress_logger, run_build, summary
from lakehouse.serving.query import list_tables
from lakehouse.settings import get_settings


def test_a_first_run_that_built_nothing_says_so_instead_of_crashing(tmp_path):
    text = summary(get_settings(tmp_path), BuildOutcome("run-1", success=False, checks=[]))
    assert "Run run-1: FAILED" in text
    assert "no tables yet" in text
    assert "Next:" not in text


def test_failed_checks_and_warnings_are_listed_apart(tmp_path):
    checks = [
        CheckOutcome("refined/orders", "unique_key", False),
        CheckOutcome("refined/orders", "key_not_null", True),
        CheckOutcome("raw/orders", "volume_anomaly", False, "WARN"),
    ]
    text = summary(get_settings(tmp_path), BuildOutcome("run-2", success=False, checks=checks))
    assert (
        "checks: 1 passed, 1 failed, 1 warnings\n    ✗ refined/orders:unique_key\n"
        "    ! raw/orders:volume_anomaly (warning)"
    ) in text


def test_rows_held_back_and_corrected_files_are_counted_as_warnings_of_the_run(tmp_path):
    held = "curated/fact_order_items: 93 order lines held back: their order is not refined"
    outcome = BuildOutcome("run-3", success=True, checks=[], warnings=[held])

    text = summary(get_settings(tmp_path), outcome)

    assert f"  checks: 0 passed, 0 failed, 0 warnings\n  warnings: 1\n    ! {held}\n" in text


@pytest.fixture
def rejecting_api(tmp_path: Path) -> Iterator[str]:
    """An HTTP server answering every request with 404: the exchange-rate fetch fails at once."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


BRANCHES = [
    "raw/orders",
    "refined/orders",
    "quarantine/orders",
    "raw/exchange_rates",
    "curated/fact_order_items",
]


def test_a_failed_run_still_publishes_the_tables_it_wrote(
    tmp_path: Path, instance: dg.DagsterInstance, rejecting_api: str
):
    settings = replace(get_settings(tmp_path / "data"), exchange_rates_url=rejecting_api)
    simulator.generate(settings.sources_dir, scale=0.001, seed=3, days=5)

    # Orders' branch and the rates' branch: the run as `lakehouse run --select` makes it (catalog
    # included). A whole failed build's publish is proven in lib/quality/test_blocking.py.
    selection = [*map(dg.AssetKey.from_user_string, BRANCHES), CATALOG]
    outcome = run_build(build_definitions(settings), instance, echo=lambda _: None, selection=selection)

    assert not outcome.success  # raw/exchange_rates failed, and everything converted to USD with it
    published = {f"{t.schema}.{t.table}": t.rows for t in list_tables(settings.catalog_path)}
    orders = pl.scan_delta(str(settings.tables_dir / "raw" / "orders")).select(pl.len()).collect().item()
    assert published["raw.orders"] == orders > 0
    assert published["refined.orders"] > 0
    assert "raw.exchange_rates" not in published
    assert "curated.fact_order_items" not in published


def test_a_month_of_partitions_is_one_progress_line():
    """A backfill of a month prints one line per asset, summing up its days, not 31 lines. (Not a
    year: each partition's materialisation costs ~9 ms of Dagster's CPU, 365 of them ~3 s.)"""
    days = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-02-01")

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def daily_fact() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    lines: list[str] = []
    job = dg.Definitions(assets=[daily_fact], jobs=[dg.define_asset_job("backfill")]).resolve_job_def(
        "backfill"
    )
    job.with_logger_defs({"progress": progress_logger(lines.append)}).execute_in_process(
        run_config={"loggers": {"progress": {}}}, tags=range_tags(date(2025, 1, 1), date(2025, 1, 31))
    )

    assert lines == ["  ✓ daily_fact                       (31 partitions: 2025-01-01 .. 2025-01-31)"]
