"""An incremental build (n days, build, one more day, build) equals a full rebuild of n + 1 days,
for every curated table."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse, build_lakehouse
from lakehouse.defs.curated.dictionary import curated_specs
from lakehouse.lib.spec import TableSpec

SMALL = {"scale": 0.003, "seed": 11}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lakehouse, Lakehouse]:
    """Built on an instance of their own: a month of history lacks the supplier snapshots' later
    `warehouse` column, which the shared instance's column-schema checks would then see vanish
    (a warning) when the demo lakehouse is built after them."""
    root = tmp_path_factory.mktemp("incremental_build")
    with dg.DagsterInstance.ephemeral() as instance:
        incremental = build_lakehouse(root / "incremental", instance, days=30, **SMALL)
        incremental.advance(1)
        assert incremental.build(instance).success
        full = build_lakehouse(root / "full", instance, days=31, **SMALL)
    return incremental, full


def content(lakehouse: Lakehouse, spec: TableSpec) -> pl.DataFrame:
    """The table without its bookkeeping columns (build times, watermarks), in key order."""
    path = lakehouse.settings.tables_dir.joinpath(*spec.asset_key.path)
    return pl.read_delta(str(path)).select(pl.exclude("^_.*$")).sort(list(spec.key))


@pytest.mark.parametrize("spec", curated_specs(), ids=lambda s: s.name)
def test_an_incremental_build_equals_a_full_rebuild(builds: tuple[Lakehouse, Lakehouse], spec: TableSpec):
    incremental, full = builds
    built = content(incremental, spec)

    assert built.height > 0
    assert built.equals(content(full, spec))
