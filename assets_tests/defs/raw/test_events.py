"""Raw events: each micro-batch file lands once, bad lines rescued, files being written left alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from lakehouse.defs.raw import events as events_module
from lakehouse.defs.raw.events import (
    HIGH_WATER_COLUMN,
    RAW_EVENTS,
    batch_id,
    newest_event,
    pending_batches,
    raw_events,
    with_high_water_mark_and_newest,
)
from lakehouse.defs.refined.events import LATENESS
from lakehouse.lib.cleansing import utc_from_zulu
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.sources.landing import LandingZone

DAY = "2025-01-01"


def event(event_id: str, at: str) -> str:
    return f'{{"event_id": "{event_id}", "event_type": "page_view", "event_at": "{at}", "customer_id": 7}}'


def land(root: Path, name: str, body: bytes) -> Path:
    path = root / "clickstream" / DAY / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def test_the_marks_and_the_newest_event_time_come_from_one_parse_of_the_event_times():
    rows = pl.DataFrame(
        {
            "_batch_id": ["b1", "b1", "b2", "b3"],
            "event_at": [
                "2025-01-01T10:00:00Z",
                "not a time",
                "2025-01-01T08:00:00Z",
                "2025-01-01T07:00:00Z",
            ],
        }
    )
    before = datetime(2025, 1, 1, 9, 30, tzinfo=UTC)

    marked, newest = with_high_water_mark_and_newest(rows, before)

    ten = datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert marked.get_column(HIGH_WATER_COLUMN).to_list() == [before, before, ten, ten]
    assert newest == ten
    assert with_high_water_mark_and_newest(rows.clear(), before)[1] == before


def test_a_batch_none_of_whose_times_parse_carries_the_mark_over_to_the_next_batch():
    """b2 has no event time of its own (garbled, or every line rescued): b3 is judged against b1's
    newest, 10:00, as if b2 had not come. (The mark fell back to the one before the chunk, here
    none, so b3's 07:00 counted as neither late nor beyond the window.)"""
    rows = pl.DataFrame(
        {
            "_batch_id": ["b1", "b2", "b2", "b3", "b3"],
            "event_at": [
                "2025-01-01T10:00:00Z",
                "not a time",
                None,
                "2025-01-01T09:00:00Z",
                "2025-01-01T07:00:00Z",
            ],
        }
    )

    marked, newest = with_high_water_mark_and_newest(rows, None)

    ten = datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert marked.get_column(HIGH_WATER_COLUMN).to_list() == [None, ten, ten, ten, ten]
    assert newest == ten
    at, mark = utc_from_zulu("event_at"), pl.col(HIGH_WATER_COLUMN)
    judged = marked.filter(pl.col("_batch_id") == "b3").select(late=at < mark, beyond=at < mark - LATENESS)
    assert judged.rows() == [(True, False), (True, True)]  # 09:00 late within the window, 07:00 beyond


@pytest.fixture
def landing(tmp_path: Path) -> LandingZone:
    root = tmp_path / "landing"
    first = "\n".join([event("e1", "2025-01-01T01:00:00.000Z"), event("e2", "2025-01-01T01:30:00.000Z")])
    land(root, "batch-0000.jsonl", (first + "\n").encode())
    second = [event("e3", "2025-01-01T02:10:00.000Z"), '{"event_id": "e4", "event_at"', event("e5", "x")]
    land(root, "batch-0001.jsonl", "\n".join(second).encode() + b'\n{"event_id": "caf\xe9"}\n')
    land(root, "batch-0002.jsonl.tmp", (event("e6", "2025-01-01T04:00:00.000Z") + "\n").encode())
    return LandingZone(root=str(root))


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(root=str(tmp_path / "tables"))


def materialise(instance: dg.DagsterInstance, landing: LandingZone, store: DeltaStore):
    resources = {
        "landing": landing,
        "store": store,
        "io_manager": DeltaIOManager(store=store),
        "pseudonymiser": Pseudonymiser(key="test-key"),
    }
    return dg.materialize([raw_events], instance=instance, resources=resources)


def test_a_file_still_being_written_is_not_pending(landing: LandingZone, store: DeltaStore):
    assert [p.name for p in pending_batches(landing, store)] == ["batch-0000.jsonl", "batch-0001.jsonl"]
    assert batch_id(Path("/x/clickstream/2025-01-01/batch-0000.jsonl")) == (
        "landing/clickstream/2025-01-01/batch-0000.jsonl"
    )


def test_each_batch_lands_once_with_rescued_lines_and_the_high_water_mark(instance, landing, store):
    first = materialise(instance, landing, store)
    assert first.success
    rows = store.scan(RAW_EVENTS).sort("_batch_id", "_row_number").collect()
    batch = f"landing/clickstream/{DAY}/batch-000"
    assert rows.select("_batch_id", "_row_number", "event_id", "event_at", "_rescued_data").rows() == [
        (batch + "0.jsonl", 1, "e1", "2025-01-01T01:00:00.000Z", None),
        (batch + "0.jsonl", 2, "e2", "2025-01-01T01:30:00.000Z", None),
        (batch + "1.jsonl", 1, "e3", "2025-01-01T02:10:00.000Z", None),
        (batch + "1.jsonl", 2, None, None, '{"event_id": "e4", "event_at"'),
        (batch + "1.jsonl", 3, "e5", "x", None),
        (batch + "1.jsonl", 4, "caf\ufffd", None, None),  # a non-UTF-8 byte does not stop anything
    ]
    assert rows["customer_id"].to_list()[:3] == ["7", "7", "7"]  # raw keeps text, as it came
    marks = rows.group_by("_batch_id").agg(pl.col(HIGH_WATER_COLUMN).unique()).sort("_batch_id")
    assert [m[0] and m[0].isoformat() for m in marks[HIGH_WATER_COLUMN].to_list()] == [
        None,
        "2025-01-01T01:30:00+00:00",
    ]
    (event_,) = [e for e in first.get_asset_materialization_events() if e.asset_key == RAW_EVENTS]
    assert event_.materialization.metadata["malformed_lines"].value == 1

    # the renamed file lands, judged against everything before it; nothing else doubles
    tmp = Path(landing.root) / "clickstream" / DAY / "batch-0002.jsonl.tmp"
    tmp.rename(tmp.with_suffix(""))
    assert materialise(instance, landing, store).success
    again = store.scan(RAW_EVENTS).collect()
    assert again.height == 7
    newest = again.filter(pl.col("event_id") == "e6")[HIGH_WATER_COLUMN].item()
    assert newest.isoformat() == "2025-01-01T02:10:00+00:00"
    assert materialise(instance, landing, store).success
    assert store.scan(RAW_EVENTS).select(pl.len()).collect().item() == 7


def test_the_newest_event_comes_from_the_last_batchs_mark_when_its_own_events_are_older(
    instance, tmp_path: Path, store: DeltaStore
):
    """Only the last batch is read: its mark carries the newest event of every batch before it."""
    root = tmp_path / "late"
    land(root, "batch-0000.jsonl", (event("e1", "2025-01-01T05:00:00.123456Z") + "\n").encode())
    land(root, "batch-0001.jsonl", (event("e2", "2025-01-01T03:00:00.000Z") + "\n").encode())
    landing = LandingZone(root=str(root))
    assert newest_event(store) is None

    assert materialise(instance, landing, store).success
    assert newest_event(store).isoformat() == "2025-01-01T05:00:00.123456+00:00"

    land(root, "batch-0002.jsonl", (event("e3", "2025-01-01T07:00:00.000001Z") + "\n").encode())
    assert materialise(instance, landing, store).success
    assert newest_event(store).isoformat() == "2025-01-01T07:00:00.000001+00:00"


def test_files_read_a_chunk_at_a_time_give_the_same_lines(landing: LandingZone, monkeypatch):
    files = landing.list_files("clickstream", "*/batch-*.jsonl")
    at_once = events_module.read_batches(files)
    monkeypatch.setattr(events_module, "FILES_PER_PARSE", 1)

    by_file = events_module.read_batches(files)

    assert by_file.rows.equals(at_once.rows)
    assert by_file.rows.height == 6
    assert by_file.rows["_batch_id"].unique().len() == 2
    assert (by_file.malformed_lines, by_file.problems) == (at_once.malformed_lines, at_once.problems)
    assert by_file.malformed_lines == 1


def test_batches_written_a_file_at_a_time_land_as_at_once_marks_carried_across_chunks(
    instance, tmp_path: Path, monkeypatch
):
    """Written one file per chunk, in one commit: the same rows and high-water marks as one chunk
    (a chunk's marks start from the newest event of the chunks before it)."""
    root = tmp_path / "chunks"
    land(root, "batch-0000.jsonl", (event("e1", "2025-01-01T05:00:00.000Z") + "\n").encode())
    land(root, "batch-0001.jsonl", (event("e2", "2025-01-01T03:00:00.000Z") + "\nnot json\n").encode())
    land(root, "batch-0002.jsonl", (event("e3", "2025-01-01T04:00:00.000Z") + "\n").encode())
    at_once, by_file = DeltaStore(root=str(root / "one")), DeltaStore(root=str(root / "many"))

    assert materialise(instance, LandingZone(root=str(root)), at_once).success
    monkeypatch.setattr(events_module, "FILES_PER_PARSE", 1)
    assert materialise(instance, LandingZone(root=str(root)), by_file).success

    def table(store: DeltaStore) -> pl.DataFrame:
        return (
            store.scan(RAW_EVENTS).drop("_ingested_at", "_run_id").sort("_batch_id", "_row_number").collect()
        )

    assert table(by_file).equals(table(at_once))
    marks = table(by_file).select("event_id", HIGH_WATER_COLUMN).rows()
    assert [(e, m.isoformat() if m else None) for e, m in marks] == [
        ("e1", None),
        ("e2", "2025-01-01T05:00:00+00:00"),
        (None, "2025-01-01T05:00:00+00:00"),
        ("e3", "2025-01-01T05:00:00+00:00"),
    ]
    assert DeltaTable(by_file.uri(RAW_EVENTS)).version() == 0
