"""An incremental build (n days, build, one more day, build) equals a full rebuild of n + 1 days,
for every curated table."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest
from lakehouse.defs.curated.assets import curated_assets, table_contract

from assets_tests.conftest import Lakehouse, build_lakehouse
from lakehouse.lib.quality.contract import contract_keys

SMALL = {"scale": 0.003, "seed": 11}


@pytest.fixture(scope="module")
def builds(
    tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance
) -> tuple[Lakehouse, Lakehouse]:
    root = tmp_path_factory.mktemp("incremental_build")
    incremental = build_lakehouse(root / "incremental", instance, days=30, **SMALL)
    incremental.advance(1)
    assert incremental.build(instance).success
    full = build_lakehouse(root / "full", instance, days=31, **SMALL)
    return incremental, full


def content(lakehouse: Lakehouse, asset: dg.AssetsDefinition) -> pl.DataFrame:
    """The table without its bookkeeping columns (build times, watermarks), in key order."""
    path = lakehouse.settings.tables_dir.joinpath(*asset.key.path)
    return pl.read_delta(str(path)).select(pl.exclude("^_.*$")).sort(contract_keys(table_contract(asset)))


@pytest.mark.parametrize("asset", curated_assets, ids=lambda a: a.key.path[-1])
def test_an_incremental_build_equals_a_full_rebuild(builds: tuple[Lakehouse, Lakehouse], asset):
    incremental, full = builds
    built = content(incremental, asset)

    assert built.height > 0
    assert built.equals(content(full, asset))
