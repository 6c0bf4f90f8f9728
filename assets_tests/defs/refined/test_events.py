"""Refined events against the simulator's ground truth: every line once, duplicates and late events."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse.defs.raw.events import RAW_EVENTS
from lakehouse.defs.refined.events import EVENTS, LATENESS
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.simulator import CLICKSTREAM_DEFECTS_FILE
from lakehouse.simulator import clickstream as simulated

from .events_support import build, simulate

# One worker makes the module's fixtures for every test here (each xdist worker would make its own).
pytestmark = pytest.mark.xdist_group(__name__)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance):
    root = tmp_path_factory.mktemp("events")
    manifest = simulate(root, days=60)
    return build(root, instance), manifest, pl.read_parquet(root / "sources" / CLICKSTREAM_DEFECTS_FILE)


def keys(defects: pl.DataFrame, defect: str) -> set[str]:
    return set(defects.filter(pl.col("defect") == defect)["key"])


def test_the_declared_window_is_the_one_the_simulator_injects_against():
    assert LATENESS == simulated.LATENESS


def test_every_line_lands_in_raw_once(built):
    store, manifest, _ = built
    raw = store.scan(RAW_EVENTS).collect()
    assert raw.height == manifest["clickstream"]["lines"]
    assert raw.select("_batch_id", "_row_number").is_unique().all()
    assert raw["_batch_id"].n_unique() == manifest["clickstream"]["batches"]


def test_duplicates_removed_are_the_injected_duplicates(built):
    store, manifest, defects = built
    raw = store.scan(RAW_EVENTS).select(pl.len()).collect().item()
    refined = store.scan(EVENTS.refined_key).collect()
    quarantined = store.scan(EVENTS.quarantine_key).select(pl.len()).collect().item()
    assert refined["event_id"].is_unique().all()
    assert raw - refined.height - quarantined == len(keys(defects, "duplicate_event")) > 0
    assert refined.height == manifest["clickstream"]["accepted_events"]


def test_events_beyond_the_window_are_quarantined_exactly_late_ones_within_accepted(built):
    store, _, defects = built
    quarantine = store.scan(EVENTS.quarantine_key).collect()
    assert set(quarantine["event_id"]) == keys(defects, "very_late_event") != set()
    assert quarantine["_rules"].to_list() == [["event_at:within_lateness"]] * quarantine.height
    refined = set(store.scan(EVENTS.refined_key).select("event_id").collect()["event_id"])
    assert keys(defects, "late_event") | keys(defects, "out_of_order") <= refined


def test_event_time_is_utc_and_typed(built):
    store, _, _ = built
    schema = store.scan(EVENTS.refined_key).collect_schema()
    assert schema["event_at"] == pl.Datetime("us", "UTC")
    assert (schema["customer_id"], schema["order_id"], schema["event_date"]) == (pl.Int64, pl.Int64, pl.Date)


def test_the_beyond_window_count_is_in_the_rule_failures(built, instance: dg.DagsterInstance):
    _, _, defects = built
    record = instance.get_latest_materialization_event(EVENTS.refined_key)
    failures = record.asset_materialization.metadata["rule_failures/event_at:within_lateness"]
    assert failures == dg.IntMetadataValue(len(keys(defects, "very_late_event")))


def test_refining_again_changes_nothing(built, tmp_path: Path, instance: dg.DagsterInstance):
    store, _, _ = built
    before = store.version(EVENTS.refined_key)
    build(Path(store.root).parent, instance)
    assert store.version(EVENTS.refined_key) == before
    assert isinstance(store, DeltaStore)
