"""The landing sensors: a new settlement file or micro-batch starts one run, a file already seen none."""

import os
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.components.declared import file_sets
from lakehouse.definitions import build_definitions, default_definitions
from lakehouse.defs.orchestration.sensors import clickstream_sensor
from lakehouse.defs.raw.events import RAW_EVENTS, raw_events
from lakehouse.defs.raw.events import batch_id as events_batch_id
from lakehouse.defs.refined.events import EVENTS
from lakehouse.defs.refined.refine import build_refined_asset
from lakehouse.defs.refined.sessions import refined_sessions
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec
from lakehouse.settings import get_settings
from lakehouse.sources.landing import LandingZone

# The sensor its component builds, as the definitions load it (the process's, built once for every
# module that needs them at import: another build here cost each collecting process 0.65 s).
(payments_sensor,) = [s for s in default_definitions().sensors if s.name == "payments_sensor"]
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
            "pseudonymiser": Pseudonymiser(key="test-key"),
            "store": DeltaStore(root=str(tmp_path / "tables")),
        },
    )
    return payments_sensor.evaluate_tick(context)


def test_a_new_file_starts_exactly_one_run(tmp_path: Path, instance: dg.DagsterInstance):
    land(tmp_path / "landing", "settlement_2025-01-02.csv")
    first = tick(tmp_path, instance, cursor=None)
    assert len(first.run_requests) == 1
    assert first.run_requests[0].tags["lakehouse/files"] == "settlement_2025-01-02.csv"

    again = tick(tmp_path, instance, cursor=first.cursor)
    assert again.run_requests == []
    assert again.skip_message == "1 pending file(s) already requested"


def test_a_new_file_while_one_is_pending_starts_one_more_run(tmp_path: Path, instance: dg.DagsterInstance):
    land(tmp_path / "landing", "settlement_2025-01-02.csv")
    first = tick(tmp_path, instance, cursor=None)
    land(tmp_path / "landing", "settlement_2025-01-03.csv")
    second = tick(tmp_path, instance, cursor=first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    # The run ingests every pending file: the first one too, if its run has not yet.
    assert (
        second.run_requests[0].tags["lakehouse/files"]
        == "settlement_2025-01-02.csv,settlement_2025-01-03.csv"
    )


def test_a_late_file_with_an_old_modification_time_is_still_requested(
    tmp_path: Path, instance: dg.DagsterInstance
):
    newest = land(tmp_path / "landing", "settlement_2025-01-05.csv")
    first = tick(tmp_path, instance, cursor=None)
    late = land(tmp_path / "landing", "settlement_2025-01-04.csv")
    os.utime(late, ns=(newest.stat().st_mtime_ns - 10**12,) * 2)  # as `cp -p` of an old file
    second = tick(tmp_path, instance, cursor=first.cursor)
    assert len(second.run_requests) == 1


def test_no_pending_file_starts_nothing(tmp_path: Path, instance: dg.DagsterInstance):
    (tmp_path / "landing" / "payments").mkdir(parents=True)
    result = tick(tmp_path, instance, cursor=None)
    assert result.run_requests == []
    assert result.skip_message == "no new payments files"


def test_before_anything_landed_the_sensors_skip_naming_the_folder(tmp_path: Path, instance):
    """A fresh data folder (no `lakehouse generate` yet, no build): a skip, not a failed tick."""
    for result, folder in (
        (tick(tmp_path, instance, cursor=None), "payments"),
        (clickstream_tick(tmp_path, instance, cursor=None), "clickstream"),
    ):
        assert result.run_requests == []
        assert result.skip_message == (
            f"nothing landed yet: landing folder {tmp_path / 'landing' / folder} does not exist "
            "(run `lakehouse generate` or set LAKEHOUSE_LANDING_DIR)"
        )


def test_files_already_in_raw_start_no_run(tmp_path: Path, instance: dg.DagsterInstance):
    path = land(tmp_path / "landing", "settlement_2025-01-02.csv")
    committed = pl.DataFrame({"payment_id": ["pay_1"], "_batch_id": [file_sets()["payments"].batch_id(path)]})
    raw = DeltaStore(root=str(tmp_path / "tables")).uri(["raw", "payments"])
    delta_tables.write(raw, committed, WriteSpec(WriteMode.APPEND), {})
    result = tick(tmp_path, instance, cursor=None)
    assert result.run_requests == []


def clickstream_tick(tmp_path: Path, instance: dg.DagsterInstance, cursor: str | None):
    store = DeltaStore(root=str(tmp_path / "tables"))
    resources = {
        "landing": LandingZone(root=str(tmp_path / "landing")),
        "store": store,
        "pseudonymiser": Pseudonymiser(key="test-key"),
    }
    definitions = dg.Definitions(
        assets=[raw_events, build_refined_asset(EVENTS), refined_sessions],
        sensors=[clickstream_sensor],
        resources={
            **resources,
            "io_manager": DeltaIOManager(store=store),
            "pseudonymiser": Pseudonymiser(key="k"),
        },
    )
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=definitions, resources=resources
    )
    return clickstream_sensor.evaluate_tick(context)


def batch(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "landing" / "clickstream" / "2025-01-01" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"event_id": "e1", "event_type": "page_view", "event_at": "2025-01-01T00:00:00.000Z"}\n')
    return path


def test_a_new_batch_starts_one_run_even_when_the_sensor_fires_twice(tmp_path: Path, instance):
    batch(tmp_path, "batch-0000.jsonl")
    batch(tmp_path, "batch-0001.jsonl.tmp")  # still being written: not yet
    first = clickstream_tick(tmp_path, instance, cursor=None)
    assert [r.tags["lakehouse/files"] for r in first.run_requests] == ["2025-01-01/batch-0000.jsonl"]
    twice = clickstream_tick(tmp_path, instance, cursor=None)  # fired again before the cursor moved
    assert twice.run_requests[0].run_key == first.run_requests[0].run_key
    again = clickstream_tick(tmp_path, instance, cursor=first.cursor)
    assert again.run_requests == [] and again.skip_message == "1 pending file(s) already requested"
    assert clickstream_sensor.minimum_interval_seconds <= 30


def test_the_requested_run_appends_the_batch_and_then_nothing_is_pending(tmp_path: Path, instance):
    path = batch(tmp_path, "batch-0000.jsonl")
    request = clickstream_tick(tmp_path, instance, cursor=None).run_requests[0]
    store = DeltaStore(root=str(tmp_path / "tables"))
    result = dg.materialize(
        [raw_events],
        instance=instance,
        resources={
            "landing": LandingZone(root=str(tmp_path / "landing")),
            "pseudonymiser": Pseudonymiser(key="test-key"),
            "store": store,
            "io_manager": DeltaIOManager(store=store),
        },
        tags={"dagster/run_key": request.run_key},
    )
    assert result.success
    assert store.scan(RAW_EVENTS).select("_batch_id").collect().to_series().to_list() == [
        events_batch_id(path)
    ]
    done = clickstream_tick(tmp_path, instance, cursor=None)
    assert done.run_requests == [] and done.skip_message == "no new clickstream batches"
    path.with_name("batch-0001.jsonl").write_text(path.read_text())
    assert len(clickstream_tick(tmp_path, instance, cursor=None).run_requests) == 1
