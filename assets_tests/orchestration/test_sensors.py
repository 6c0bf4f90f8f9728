"""The landing sensor: a new settlement file starts one run, a file already seen starts none."""

from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.definitions import build_definitions
from lakehouse.orchestration.sensors import payments_landing_sensor
from lakehouse.raw.payments import file_batch_id
from lakehouse.settings import get_settings
from lakehouse.sources.landing import LandingZone
from lakehouse.storage import delta_tables
from lakehouse.storage.store import DeltaStore
from lakehouse.storage.write_spec import WriteMode, WriteSpec

HEADER = "payment_id,order_id,amount,currency,method,settled_at\n"


def land(folder: Path, name: str) -> Path:
    path = folder / "payments" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "pay_1,1,10.00,USD,card,2025-01-02T06:00:00Z\n")
    return path


def tick(tmp_path: Path, instance: dg.DagsterInstance, cursor: str | None):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=build_definitions(get_settings(tmp_path)),
        resources={
            "landing": LandingZone(root=str(tmp_path / "landing")),
            "store": DeltaStore(root=str(tmp_path / "tables")),
        },
    )
    return payments_landing_sensor.evaluate_tick(context)


def test_a_new_file_starts_exactly_one_run(tmp_path: Path, instance: dg.DagsterInstance):
    land(tmp_path / "landing", "settlement_2025-01-02.csv")
    first = tick(tmp_path, instance, cursor=None)
    assert len(first.run_requests) == 1
    assert first.run_requests[0].run_key.startswith("payments:settlement_2025-01-02.csv:")

    again = tick(tmp_path, instance, cursor=first.cursor)
    assert again.run_requests == []
    assert "no new settlement files" in again.skip_message


def test_a_later_file_starts_a_run_for_itself_only(tmp_path: Path, instance: dg.DagsterInstance):
    land(tmp_path / "landing", "settlement_2025-01-02.csv")
    first = tick(tmp_path, instance, cursor=None)
    land(tmp_path / "landing", "settlement_2025-01-03.csv")
    second = tick(tmp_path, instance, cursor=first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].tags["lakehouse/files"] == "settlement_2025-01-03.csv"


def test_files_already_in_raw_start_no_run(tmp_path: Path, instance: dg.DagsterInstance):
    path = land(tmp_path / "landing", "settlement_2025-01-02.csv")
    committed = pl.DataFrame({"payment_id": ["pay_1"], "_batch_id": [file_batch_id(path)]})
    raw = DeltaStore(root=str(tmp_path / "tables")).uri(["raw", "payments"])
    delta_tables.write(raw, committed, WriteSpec(WriteMode.APPEND), {})
    result = tick(tmp_path, instance, cursor=None)
    assert result.run_requests == []
