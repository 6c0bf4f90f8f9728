"""An incremental build (n days, build, one more day, build) equals a full rebuild of n + 1 days,
for every curated table."""

from __future__ import annotations

import pytest

from assets_tests.conftest import IncrementalBuilds
from lakehouse.defs.curated.dictionary import curated_specs
from lakehouse.lib.spec import TableSpec
from lakehouse.lib.storage import delta_tables
from lakehouse.operations.rebuild_check import difference, table_uri


@pytest.mark.parametrize("spec", curated_specs(), ids=lambda s: s.name)
def test_an_incremental_build_equals_a_full_rebuild(incremental_builds: IncrementalBuilds, spec: TableSpec):
    built = incremental_builds.incremental.settings.tables_uri
    rebuilt = incremental_builds.full.settings.tables_uri

    assert delta_tables.scan(table_uri(built, spec)).head(1).collect().height == 1
    assert difference(built, rebuilt, spec) is None
