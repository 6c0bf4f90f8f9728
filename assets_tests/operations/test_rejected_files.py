"""Files quarantined whole: listed with their reason, and released for re-ingestion once repaired."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from assets_tests.defs.raw import test_files
from assets_tests.defs.raw.test_files import INVENTORY, materialise, materialised_metadata, snapshot, stock
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.operations.rejected_files import rejected_files, release_file
from lakehouse.sources.landing import LandingZone

# A Dagster instance of the module's own, as test_files has (see there for why).
instance = test_files.instance


def test_a_repaired_file_released_from_quarantine_is_ingested_once_by_the_next_run(instance, tmp_path: Path):
    store = DeltaStore(root=str(tmp_path / "tables"))
    landing = LandingZone(root=str(tmp_path / "landing"))
    folder = tmp_path / "landing" / "inventory"
    snapshot(folder, "2025-01-01", stock("2025-01-01", [5, 0]))
    broken = snapshot(folder, "2025-01-02", stock("2025-01-02", [4, 9]))
    broken.write_bytes(b"PAR1 cut short")
    materialise(instance, landing, store, INVENTORY)

    listed = rejected_files(store, [INVENTORY])
    assert listed.select("file_set", "rule").rows() == [("supplier_inventory", "readable_file")]
    assert listed.get_column("file").to_list() == [str(broken)]

    snapshot(folder, "2025-01-02", stock("2025-01-02", [4, 9]))  # the supplier sends it again
    assert release_file(store, INVENTORY, broken.name) == 1
    assert rejected_files(store, [INVENTORY]).height == 0

    rerun = materialise(instance, landing, store, INVENTORY)
    assert materialised_metadata(rerun, INVENTORY.raw_key)["files_ingested"].value == 1
    again = materialise(instance, landing, store, INVENTORY)
    assert materialised_metadata(again, INVENTORY.raw_key)["files_ingested"].value == 0
    raw = store.scan(INVENTORY.raw_key).group_by("_batch_id").len().sort("_batch_id").collect()
    assert raw.rows() == [
        ("landing/inventory/inventory_2025-01-01.parquet", 2),
        ("landing/inventory/inventory_2025-01-02.parquet", 2),
    ]
    log = pl.read_delta(str(tmp_path / "tables" / "audit" / "log")).filter(
        pl.col("operation") == "release_file"
    )
    assert log.get_column("table_name").to_list() == ["quarantine/supplier_inventory_files"]


def test_releasing_a_file_that_is_not_quarantined_names_the_problem(instance, tmp_path: Path):
    store = DeltaStore(root=str(tmp_path / "tables"))
    snapshot(tmp_path / "landing" / "inventory", "2025-01-01", stock("2025-01-01", [5]))
    materialise(instance, LandingZone(root=str(tmp_path / "landing")), store, INVENTORY)

    expected = "inventory_2025-01-01.parquet is not in quarantine/supplier_inventory_files"
    with pytest.raises(ValueError, match=re.escape(expected)):
        release_file(store, INVENTORY, "inventory_2025-01-01.parquet")
