"""`lakehouse run` and `lakehouse backfill` (`lakehouse bench`: assets_tests/test_benchmark.py)."""

from datetime import date
from pathlib import Path

import pytest

from assets_tests.cli.conftest import Invoke, home_invoker, invoker
from lakehouse import simulator
from lakehouse.cli.build import split_days
from lakehouse.cli.instance import open_instance
from lakehouse.settings import get_settings


@pytest.fixture
def sources_cli(tmp_path: Path) -> Invoke:
    """Commands against a data folder holding only simulated sources (scale 0.002, seed 3, a day):
    all `run` looks at before it refuses to build."""
    simulator.generate(get_settings(tmp_path).sources_dir, scale=0.002, seed=3, days=1)
    return invoker("--data-dir", str(tmp_path))


def test_run_refuses_to_mix_sources_of_another_scale(sources_cli: Invoke):
    result = sources_cli("run", "--scale", "0.5")
    assert result.exit_code == 1
    assert "holds a build of scale 0.002, seed 3" in result.output
    assert "make clean" in result.output


def test_run_names_a_selection_that_selects_nothing_and_builds_nothing(sources_cli: Invoke):
    unknown = sources_cli("run", "--scale", "0.002", "--seed", "3", "--select", "group:curatedd")
    malformed = sources_cli("run", "--scale", "0.002", "--seed", "3", "--select", "key:(")

    assert unknown.exit_code == malformed.exit_code == 2
    assert "'group:curatedd' selects no asset" in unknown.output
    assert "Invalid value for --select: 'key:('" in malformed.output
    assert "building" not in unknown.output + malformed.output


def test_backfill_rebuilds_the_days_asked_for_and_says_which(home_copy: Path):
    result = home_invoker(home_copy)(
        "backfill", "--from", "2025-01-05", "--to", "2025-01-06", "--asset", "curated/fact_payments"
    )

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "backfilling 2025-01-05..2025-01-06 of curated/fact_payments …"
    assert "  ✓ curated/fact_payments" in result.output
    assert "✓ curated/fact_payments            (2 partitions: 2025-01-05 .. 2025-01-06)" in result.output
    assert "succeeded" in result.output
    # recorded where the UI looks: the instance of --dagster-home, after the build's run
    with open_instance(home_copy) as instance:
        runs = instance.get_run_records()
    assert len(runs) == 2
    assert f"Run {runs[0].dagster_run.run_id}: succeeded" in result.output


def test_backfill_names_what_it_cannot_do(home_cli: Invoke):
    unknown = home_cli(
        "backfill", "--from", "2025-01-05", "--to", "2025-01-06", "--asset", "curated/dim_date"
    )
    assert unknown.exit_code == 2
    assert "curated/dim_date: not one of curated/fact_order_items, curated/fact_payments" in unknown.output
    backwards = home_cli("backfill", "--from", "2025-01-06", "--to", "2025-01-05")
    assert backwards.exit_code == 1
    assert "backfill range ends (2025-01-05) before it starts (2025-01-06)" in backwards.output
    beyond = home_cli("backfill", "--from", "2025-01-29", "--to", "2025-02-02")  # 30 days were simulated
    assert beyond.exit_code == 1
    assert "backfill range ends (2025-02-02) after the data does (2025-01-30)" in beyond.output


def test_a_backfill_in_runs_at_once_rebuilds_each_range_in_its_own_run_then_the_marts(home_copy: Path):
    days = ("--from", "2025-01-05", "--to", "2025-01-08")
    result = home_invoker(home_copy)("backfill", *days, "--asset", "curated/fact_payments", "--runs", "2")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "backfilling 2025-01-05..2025-01-08 of curated/fact_payments … in 2 runs at once"
    for days in ("2025-01-05..2025-01-06", "2025-01-07..2025-01-08"):
        first, last = days.split("..")
        rebuilt = f"[{days}]   ✓ curated/fact_payments            (2 partitions: {first} .. {last})"
        assert rebuilt in lines
        assert any(line.startswith(f"[{days}] Run ") and line.endswith(": succeeded") for line in lines)
    assert "building what depends on the rebuilt days …" in lines
    with open_instance(home_copy) as instance:
        assert len(instance.get_run_records()) == 4  # the build, two ranges, what depends on them


def test_days_are_split_into_nearly_equal_consecutive_ranges():
    assert split_days(date(2025, 1, 1), date(2025, 12, 31), 4) == [  # 92 days, the last 89
        (date(2025, 1, 1), date(2025, 4, 2)),
        (date(2025, 4, 3), date(2025, 7, 3)),
        (date(2025, 7, 4), date(2025, 10, 3)),
        (date(2025, 10, 4), date(2025, 12, 31)),
    ]
    assert split_days(date(2025, 1, 1), date(2025, 1, 2), 4) == [
        (date(2025, 1, 1), date(2025, 1, 1)),
        (date(2025, 1, 2), date(2025, 1, 2)),
    ]
