"""A whole lakehouse built on the object store (tables and landing zone on moto's S3 server) equals
the same simulation built in local folders, table by table on the business columns; the catalog
serves it through s3fs, sandboxed to the tables' prefix."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import copy_of_build
from assets_tests.object_store import ObjectStore
from lakehouse import simulator
from lakehouse.definitions import build_definitions
from lakehouse.lib.storage import location
from lakehouse.operations.runner import run_build
from lakehouse.serving.query import run_query
from lakehouse.serving.resource import ServingCatalog
from lakehouse.settings import get_settings

SMALL = {"scale": 0.002, "seed": 3, "days": 20}  # the build `lib/quality/test_blocking.py` copies too
# Bookkeeping columns (`_…`: where, when and by which run a row was written) differ by nature;
# these few say what a row is, and must be equal too.
KEPT_BOOKKEEPING = {"_rules", "_rescued_data", "_row_number"}


def business(uri: str) -> pl.DataFrame:
    frame = pl.read_delta(uri)
    if "file" in frame.columns:  # a file quarantined whole: by its name and rule (its folder, and
        # the reader's message about a corrupt file, differ between a local and a remote read)
        frame = frame.with_columns(pl.col("file").str.split("/").list.last()).drop("reason", strict=False)
    columns = sorted(c for c in frame.columns if not c.startswith("_") or c in KEPT_BOOKKEEPING)
    return frame.select(columns).sort(columns, nulls_last=True)


def test_a_build_on_the_object_store_equals_the_local_build(
    object_store: ObjectStore, tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    local = copy_of_build(tmp_path / "local", instance, **SMALL)
    bucket = object_store.create_bucket()
    tables, landing = f"s3://{bucket}/lakehouse/tables", f"s3://{bucket}/lakehouse/landing"
    settings = get_settings(tmp_path / "remote")
    simulator.generate(settings.sources_dir, **SMALL, landing_uri=landing)
    monkeypatch.setenv("LAKEHOUSE_TABLES_URI", tables)
    monkeypatch.setenv("LAKEHOUSE_LANDING_DIR", landing)
    settings = get_settings(tmp_path / "remote")
    outcome = run_build(build_definitions(settings), instance, echo=lambda _: None)

    assert outcome.success and not [c for c in outcome.checks if not c.passed and not c.warned]
    assert not (tmp_path / "remote" / "tables").exists()  # nothing written locally
    remote_tables = location.table_uris(tables)
    local_tables = location.table_uris(local.settings.tables_dir)
    assert remote_tables.keys() == local_tables.keys()
    for name, uri in remote_tables.items():
        if name in {"audit/log", "quality/metrics"}:
            continue  # when each write happened: differs by nature
        remote, local_rows = business(uri), business(local_tables[name])
        assert remote.columns == local_rows.columns, name
        differing = [c for c in remote.columns if not remote[c].equals(local_rows[c])]
        assert not differing, (name, differing)

    served = run_query(
        ServingCatalog.from_settings(settings), "select count(*) as n from curated.fact_order_items"
    )
    assert served.column("n").to_pylist() == [pl.read_delta(remote_tables["curated/fact_order_items"]).height]
