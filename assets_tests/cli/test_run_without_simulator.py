"""`lakehouse run` with LAKEHOUSE_SIMULATOR=off: a team's own sources only. Nothing is generated,
and only the declared sources that stand alone (here the supplier's stock snapshots, declared with
an inline contract) are loaded and built, not the simulated shop."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from assets_tests.cli.conftest import INSTANCE_CONFIG, invoker
from lakehouse.definitions import build_definitions
from lakehouse.settings import get_settings

SUPPLIER_TABLES = {
    "raw/supplier_inventory",
    "raw/supplier_inventory_file_versions",
    "quarantine/supplier_inventory_files",
    "refined/supplier_inventory",
    "quarantine/supplier_inventory",
}


def snapshot(landing: Path, day: date, products: list[int], on_hand: list[int]) -> None:
    """One supplier snapshot file, complete (its `.done` marker written after it)."""
    folder = landing / "inventory"
    folder.mkdir(parents=True, exist_ok=True)
    rows = pl.DataFrame(
        {
            "snapshot_date": [day] * len(products),
            "product_id": products,
            "sku": [f" SKU-{p} " for p in products],
            "on_hand": on_hand,
            "on_order": [0] * len(products),
        },
        schema_overrides={"product_id": pl.Int64, "on_hand": pl.Int64, "on_order": pl.Int64},
    )
    path = folder / f"inventory_{day.isoformat()}.parquet"
    rows.write_parquet(path)
    path.with_name(path.name + ".done").touch()


@pytest.fixture
def simulator_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_SIMULATOR", "off")


def test_without_the_simulator_only_the_standalone_declared_sources_are_loaded(simulator_off, tmp_path):
    graph = build_definitions(get_settings(tmp_path)).resolve_asset_graph()

    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {*SUPPLIER_TABLES, "serving/catalog"}
    assert len(graph.asset_check_keys) == 12  # the supplier tables' checks and the catalog's PII scan


def test_run_builds_the_declared_sources_and_generates_nothing(simulator_off, tmp_path):
    data = tmp_path / "data"
    (tmp_path / "dagster.yaml").write_text(INSTANCE_CONFIG)
    landing = data / "sources" / "landing"
    snapshot(landing, date(2025, 3, 1), [1, 2, 3], [5, 0, -1])  # product 3: negative stock
    snapshot(landing, date(2025, 3, 2), [1, 2], [4, 7])

    result = invoker("--data-dir", str(data), "--dagster-home", str(tmp_path))("run")

    assert result.exit_code == 0, result.output
    assert "LAKEHOUSE_SIMULATOR=off: building the declared sources only" in result.output
    assert sorted(p.name for p in (data / "sources").iterdir()) == ["landing"]  # no shop, no manifest
    tables = data / "tables"
    built = {f"{p.parent.parent.name}/{p.parent.name}" for p in tables.glob("*/*/_delta_log")}
    assert built == {*SUPPLIER_TABLES, "audit/log", "quality/metrics"}  # and the lakehouse's own records

    def rows(name: str) -> pl.DataFrame:
        return pl.read_delta(str(tables / name))

    assert rows("raw/supplier_inventory").height == 5
    refined = rows("refined/supplier_inventory").sort("snapshot_date", "product_id")
    assert refined.select("product_id", "sku", "on_hand").rows() == [
        (1, "SKU-1", 5),
        (2, "SKU-2", 0),
        (1, "SKU-1", 4),
        (2, "SKU-2", 7),
    ]
    quarantined = rows("quarantine/supplier_inventory")
    assert quarantined.select("product_id", "_rules").rows() == [(3, ["on_hand:greater_than_or_equal_to(0)"])]
    assert "checks: 12 passed, 0 failed, 0 warnings" in result.output
