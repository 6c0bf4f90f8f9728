"""`lakehouse run` and `lakehouse backfill` (`lakehouse bench`: assets_tests/test_benchmark.py)."""

from pathlib import Path

from assets_tests.cli.conftest import Invoke, home_invoker
from lakehouse.cli.instance import open_instance


def test_run_refuses_to_mix_sources_of_another_scale(cli: Invoke):
    result = cli("run", "--scale", "0.5")
    assert result.exit_code == 1
    assert "holds a build of scale 0.01, seed 42" in result.output
    assert "make clean" in result.output


def test_run_names_a_selection_that_selects_nothing_and_builds_nothing(cli: Invoke):
    unknown = cli("run", "--scale", "0.01", "--select", "group:curatedd")
    malformed = cli("run", "--scale", "0.01", "--select", "key:(")

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
