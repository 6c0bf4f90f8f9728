"""An incremental build (n days, build, one more day, build) equals a full rebuild of n + 1 days,
for every curated table."""

from __future__ import annotations

import polars as pl
import pytest

from assets_tests.conftest import IncrementalBuilds, Lakehouse
from lakehouse.defs.curated.dictionary import curated_specs
from lakehouse.lib.spec import TableSpec


def content(lakehouse: Lakehouse, spec: TableSpec) -> pl.DataFrame:
    """The table without its bookkeeping columns (build times, watermarks), in key order."""
    path = lakehouse.settings.tables_dir.joinpath(*spec.asset_key.path)
    return pl.read_delta(str(path)).select(pl.exclude("^_.*$")).sort(list(spec.key))


@pytest.mark.parametrize("spec", curated_specs(), ids=lambda s: s.name)
def test_an_incremental_build_equals_a_full_rebuild(incremental_builds: IncrementalBuilds, spec: TableSpec):
    built = content(incremental_builds.incremental, spec)

    assert built.height > 0
    assert built.equals(content(incremental_builds.full, spec))
