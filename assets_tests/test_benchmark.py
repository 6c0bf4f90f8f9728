"""`lakehouse bench` at a tiny scale: what it measures and reports, not how fast anything is.

One real run (eight child processes forked from a server that imported Dagster once) feeds every test.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from assets_tests.conftest import IncrementalBuilds
from lakehouse import benchmark
from lakehouse.benchmark import FULL, INCREMENTAL, LAYERS, BenchmarkError, Step
from lakehouse.cli import main
from lakehouse.operations.rebuild_check import Verification

pytestmark = pytest.mark.e2e  # whole builds in fresh processes

EXPECTED_STEPS = [
    (FULL, "generate"),
    *((FULL, layer) for layer in LAYERS),
    (INCREMENTAL, "advance"),
    *((INCREMENTAL, layer) for layer in LAYERS),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("bench")
    out = root / "bench.json"
    args = ["bench", "--scale", "0.001", "--days", "10", "--root", str(root), "--keep", "--json", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "design targets" in result.output
    return json.loads(out.read_text())


def steps(report: dict[str, Any], phase: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in report["steps"] if s["phase"] == phase}


def count_rows(table_dir: Path) -> int:
    return pl.scan_delta(str(table_dir)).select(pl.len()).collect().item()


def test_every_phase_and_layer_is_measured(report: dict[str, Any]) -> None:
    assert [(s["phase"], s["name"]) for s in report["steps"]] == EXPECTED_STEPS
    for step in report["steps"]:
        assert step["seconds"] > 0
        assert step["setup_seconds"] > 0
        assert step["wall_seconds"] > step["seconds"] + step["setup_seconds"]
        assert step["peak_mb"] > 0
        assert step["failed_checks"] == []


def test_layer_rows_are_what_the_tables_hold(report: dict[str, Any]) -> None:
    """After the last step the kept tables are exactly what the incremental steps report: every
    table in one layer (an ingestion's quarantined files in raw, with the raw table it writes)."""
    tables_dir = Path(report["data_dir"]) / "tables"
    on_disk = {
        f"{d.name}/{t.name}": count_rows(t)
        for d in map(tables_dir.joinpath, ("raw", "refined", "quarantine", "curated"))
        for t in d.iterdir()
    }
    layers = [step for layer, step in steps(report, INCREMENTAL).items() if layer in LAYERS]
    reported = [table for step in layers for table in step["tables"]]
    assert sorted(reported) == sorted(on_disk)
    assert "quarantine/supplier_inventory_files" in steps(report, INCREMENTAL)["raw"]["tables"]
    for step in layers:
        assert step["tables"] == {table: on_disk[table] for table in step["tables"]}
        assert step["rows"] == sum(step["tables"].values()) > 0


def test_a_fresh_build_holds_what_it_wrote(report: dict[str, Any]) -> None:
    full, incremental = steps(report, FULL), steps(report, INCREMENTAL)
    for layer in LAYERS:
        assert full[layer]["rows"] == full[layer]["rows_written"] > 0
    # raw is append-only: the incremental run adds exactly what it wrote
    assert incremental["raw"]["rows"] == full["raw"]["rows"] + incremental["raw"]["rows_written"]
    assert incremental["advance"]["rows_written"] > 0


def test_the_incremental_build_checks_only_what_arrived_since_the_full_build(report: dict[str, Any]) -> None:
    """The steps share the data dir's Dagster instance: the incremental reconciliation of orders
    starts where the full build's passing one stopped."""
    check = dg.AssetCheckKey(dg.AssetKey(["refined", "orders"]), "reconciles_with_raw")
    with dg.DagsterInstance.local_temp(str(Path(report["data_dir"]) / "dagster")) as instance:
        history = instance.event_log_storage.get_asset_check_execution_history(check, limit=2)
        full, incremental = reversed([r.evaluation.metadata for r in history])
    assert full["raw_rows_ingested_after"].value == ""
    assert incremental["raw_rows_ingested_after"].value == full["processed_until"].value
    assert incremental["raw_rows"].value < full["raw_rows"].value


def test_totals_add_up_and_targets_are_judged(report: dict[str, Any]) -> None:
    for phase in (FULL, INCREMENTAL):
        layers = [steps(report, phase)[layer] for layer in LAYERS]
        total = report["totals"][phase]
        assert total["seconds"] == pytest.approx(sum(s["seconds"] for s in layers))
        assert total["peak_mb"] == max(s["peak_mb"] for s in layers)
        assert total["rows"] == sum(s["rows"] for s in layers)
    # Judged, not required: how fast a tiny run is depends on the machine (the benchmark's job).
    full, incremental = report["totals"][FULL], report["totals"][INCREMENTAL]
    curated = steps(report, INCREMENTAL)["curated"]
    share = 100 * curated["rows_written"] / curated["rows"]
    assert [(t["value"], t["met"]) for t in report["targets"]] == [
        (full["seconds"], full["seconds"] <= benchmark.FULL_BUILD_SECONDS),
        (full["peak_mb"], full["peak_mb"] <= benchmark.FULL_BUILD_PEAK_MB),
        (incremental["seconds"], incremental["seconds"] <= benchmark.INCREMENTAL_SECONDS),
        (share, share <= benchmark.INCREMENTAL_CURATED_SHARE),
    ]


def test_every_asset_s_cost_is_reported(report: dict[str, Any]) -> None:
    """Per asset: work seconds, rows read, rows written and peak memory; what the layers' runs wrote
    is the sum of their assets' writes, and the top five are the costliest steps."""
    for phase in (FULL, INCREMENTAL):
        layers = [steps(report, phase)[layer] for layer in LAYERS]
        costs = {c["what"]: c for step in layers for c in step["costs"]}
        for step in layers:
            assert step["rows_written"] == sum(c["rows_written"] for c in step["costs"])
            # sampled VmRSS may pass VmHWM by a fraction of a MB: the kernel syncs its counters lazily
            assert all(0 < c["peak_mb"] <= step["peak_mb"] + 1 and c["seconds"] >= 0 for c in step["costs"])
        fact = costs["curated/fact_order_items"]
        # its inputs: refined order items, orders and exchange rates, and the two dimensions
        inputs = ["refined/order_items", "refined/orders", "refined/exchange_rates"]
        tables = steps(report, phase)["refined"]["tables"] | steps(report, phase)["curated"]["tables"]
        assert fact["rows_read"] >= sum(tables[t] for t in inputs)
        assert (
            costs["check curated__fact_order_items_checks"]["rows_written"] == 0
        )  # all its checks, one step
    full = [c for step in report["steps"] if step["phase"] == FULL for c in step["costs"]]
    top = sorted(full, key=lambda c: c["seconds"], reverse=True)[:5]
    assert [c["what"] for c in top] == [c.what for c in benchmark.Report(**report_fields(report)).top(FULL)]


def report_fields(report: dict[str, Any]) -> dict[str, Any]:
    fields = {k: report[k] for k in ("scale", "seed", "days", "data_dir", "kept")}
    return {**fields, "steps": [Step(**s) for s in report["steps"]]}


@pytest.mark.parametrize("fails", [False, True])
def test_the_data_dir_is_removed_unless_kept(
    report: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """The steps are stubbed (the real run above keeps its dir): only the clean-up is under test."""

    def fake_steps(data_dir: Path, *_: Any) -> list[Step]:
        (data_dir / "tables").mkdir()
        if fails:
            raise BenchmarkError("a step failed")
        return [Step(**s) for s in report["steps"]]

    monkeypatch.setattr(benchmark, "run_steps", fake_steps)
    result = CliRunner().invoke(main, ["bench", "--scale", "0.001", "--root", str(tmp_path)])
    assert result.exit_code == (1 if fails else 0), result.output
    assert list(tmp_path.iterdir()) == []


def test_verify_compares_the_incremental_build_with_a_full_rebuild(incremental_builds: IncrementalBuilds):
    """`--verify`'s comparison, in its own process as the benchmark runs it, on the test suite's
    incremental and full builds of the same 31 days: no curated table differs."""
    built, rebuilt = (
        incremental_builds.incremental.settings.data_dir,
        incremental_builds.full.settings.data_dir,
    )

    assert benchmark.compare_builds(built, rebuilt, echo=lambda _: None) == Verification({}, {})


def test_the_benchmark_never_reaches_the_user_s_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A user's `LAKEHOUSE_TABLES_URI` is not passed to the steps (their tables are the data dir's),
    and a comparison of one set of tables with itself is refused, not reported equal."""
    monkeypatch.setenv("LAKEHOUSE_TABLES_URI", "s3://shop-lake/tables")

    assert "LAKEHOUSE_TABLES_URI" not in benchmark._child_env(tmp_path)
    with pytest.raises(BenchmarkError, match="the same tables"):
        benchmark._compare(str(tmp_path / "built"), str(tmp_path / "rebuilt"))


def test_verify_fails_naming_the_tables_that_differ(
    report: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The builds are stubbed (the comparison is tested above): the rebuild is one more day, and a
    difference fails the command with the tables it names and what differs."""
    rebuilt: list[tuple[str, int]] = []

    def fake_build(phase: str, data_dir: Path, scale: float, seed: int, days: int, echo: Any) -> list[Step]:
        rebuilt.append((phase, days))
        return []

    monkeypatch.setattr(benchmark, "run_steps", lambda *_: [Step(**s) for s in report["steps"]])
    monkeypatch.setattr(benchmark, "build_steps", fake_build)
    differs = {"curated/fact_payments": "12 rows differ"}
    monkeypatch.setattr(benchmark, "compare_builds", lambda *_: Verification(differs, {}))
    args = ["bench", "--scale", "0.001", "--days", "10", "--verify", "--root", str(tmp_path)]
    result = CliRunner().invoke(main, args)

    assert rebuilt == [(benchmark.REBUILD, 11)]
    assert result.exit_code == 1
    assert (
        "✗ the incremental build differs from a full rebuild in 1 curated table(s):\n12 rows differ"
        in result.output
    )
    assert "differs from a full rebuild in curated/fact_payments (above)" in result.output


def test_recorded_results_keep_one_run_per_scale_and_draw_a_chart(report: dict[str, Any], tmp_path: Path):
    """`--record-json` keeps a run's figures under its scale in the results file; a later run of
    the same scale replaces them, another scale adds to them; `--chart` draws them all."""
    results, chart = tmp_path / "docs" / "benchmark.json", tmp_path / "benchmark.png"
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(report))
    other_scale = tmp_path / "other.json"
    other_scale.write_text(json.dumps({**report, "scale": 0.002}))
    for run in (saved, other_scale, saved):
        result = CliRunner().invoke(main, ["bench", "--record-json", str(run), "--results", str(results)])
        assert result.exit_code == 0, result.output

    recorded = json.loads(results.read_text())["results"]
    assert [r["scale"] for r in recorded] == [0.001, 0.002]
    totals = report["totals"]
    assert recorded[0]["full"]["seconds"] == round(totals[FULL]["seconds"], 1)
    assert recorded[0]["full"]["peak_mb"] == round(totals[FULL]["peak_mb"])
    assert recorded[0]["incremental"]["layers"] == {
        layer: round(steps(report, INCREMENTAL)[layer]["seconds"], 1) for layer in LAYERS
    }
    assert recorded[0]["advance"]["peak_mb"] == round(steps(report, INCREMENTAL)["advance"]["peak_mb"])
    result = CliRunner().invoke(main, ["bench", "--chart", str(chart), "--results", str(results)])
    assert result.exit_code == 0, result.output
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_a_chart_without_results_names_the_file_and_how_to_record(tmp_path: Path) -> None:
    results = tmp_path / "none.json"
    result = CliRunner().invoke(
        main, ["bench", "--chart", str(tmp_path / "c.png"), "--results", str(results)]
    )
    assert result.exit_code == 1
    assert str(results) in result.output and "--record" in result.output


def test_layer_rows_follow_the_tables_uri_onto_the_object_store(object_store) -> None:
    """The rows a step reports are read from where the tables live: `LAKEHOUSE_TABLES_URI`."""
    from deltalake import write_deltalake

    root = f"s3://{object_store.create_bucket()}/lake"
    write_deltalake(f"{root}/raw/orders", pl.DataFrame({"id": [1, 2, 3]}).to_arrow())
    assert benchmark.layer_rows(root, ["raw/orders", "refined/orders"]) == {"raw/orders": 3}
