"""Raw payments: each settlement file lands once, malformed lines rescued with their line numbers."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse.raw.payments import RAW_PAYMENTS, file_batch_id, pending_files, raw_payments
from lakehouse.sources.landing import LandingZone
from lakehouse.storage import delta_tables
from lakehouse.storage.io_manager import DeltaIOManager
from lakehouse.storage.store import DeltaStore
from lakehouse.storage.write_spec import WriteMode, WriteSpec

HEADER = "payment_id,order_id,amount,currency,method,settled_at\n"
DAY_1 = "settlement_2025-01-01.csv"
DAY_2 = "settlement_2025-01-02.csv"


@pytest.fixture
def landing(tmp_path: Path) -> LandingZone:
    folder = tmp_path / "landing" / "payments"
    folder.mkdir(parents=True)
    (folder / DAY_1).write_text(HEADER + "pay_1,1,10.00,USD,card,2025-01-01T06:00:00Z\n")
    (folder / DAY_2).write_text(
        HEADER + "pay_2,2,20.00,EUR,card,2025-01-02T06:00:00Z\npay_3,3,12,50,EUR,card,2025-01-02T07:00:00Z\n"
    )
    (folder / "readme.txt").write_text("not a settlement file")
    return LandingZone(root=str(tmp_path / "landing"))


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(root=str(tmp_path / "tables"))


def materialise(instance: dg.DagsterInstance, landing: LandingZone, store: DeltaStore):
    return dg.materialize(
        [raw_payments],
        instance=instance,
        resources={"landing": landing, "store": store, "io_manager": DeltaIOManager(store=store)},
    )


def materialised_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == RAW_PAYMENTS]
    return event.materialization.metadata


def test_file_batch_id_names_the_landing_file():
    assert file_batch_id(Path("/any/where/settlement_2025-01-01.csv")) == (
        "landing/payments/settlement_2025-01-01.csv"
    )


def test_pending_files_are_the_settlement_files_not_yet_committed(landing, store):
    assert [p.name for p in pending_files(landing, store)] == [DAY_1, DAY_2]

    done = pl.DataFrame({"payment_id": ["pay_1"], "_batch_id": ["landing/payments/" + DAY_1]})
    delta_tables.write(store.uri(RAW_PAYMENTS), done, WriteSpec(WriteMode.APPEND), {})

    assert [p.name for p in pending_files(landing, store)] == [DAY_2]


def test_each_file_lands_once_with_rescued_lines_and_line_numbers(instance, landing, store):
    first = materialise(instance, landing, store)
    assert first.success
    metadata = materialised_metadata(first)
    assert metadata["files_ingested"].value == 2
    assert metadata["malformed_lines"].value == 1

    rows = store.scan(RAW_PAYMENTS).sort("_batch_id", "_row_number").collect()
    assert rows.select("_batch_id", "_row_number", "payment_id", "amount", "_rescued_data").rows() == [
        ("landing/payments/" + DAY_1, 2, "pay_1", "10.00", None),
        ("landing/payments/" + DAY_2, 2, "pay_2", "20.00", None),
        ("landing/payments/" + DAY_2, 3, None, None, "pay_3,3,12,50,EUR,card,2025-01-02T07:00:00Z"),
    ]
    assert rows.get_column("_run_id").unique().to_list() == [first.run_id]

    again = materialise(instance, landing, store)
    assert again.success
    assert materialised_metadata(again)["files_ingested"].value == 0
    assert store.scan(RAW_PAYMENTS).select(pl.len()).collect().item() == 3
