"""Sessions: the simulator's count, and late events merged in equal a full rebuild."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import polars as pl
import pytest

from lakehouse import simulator
from lakehouse.defs.refined.events import EVENTS
from lakehouse.defs.refined.sessions import REFINED_SESSIONS, SESSION_SOURCES, of_users, sessionize
from lakehouse.lib.quality.contract import contract_types

from .events_support import build, simulate


def test_sessions_count_is_the_simulators_independent_count(tmp_path, instance: dg.DagsterInstance):
    """Built in small batches: events refined 500 at a time, sessions a few users at a time."""
    manifest = simulate(tmp_path, days=40)
    store = build(tmp_path, instance, batch_rows=500)
    sessions = store.scan(REFINED_SESSIONS).collect()
    assert sessions.height == manifest["clickstream"]["sessions"]
    assert sessions["session_id"].is_unique().all()
    assert sessions["events"].sum() == manifest["clickstream"]["accepted_events"]


def sessions_of(store) -> pl.DataFrame:
    """The sessions without their bookkeeping (the build's watermark), sorted."""
    return store.scan(REFINED_SESSIONS).select(pl.exclude("^_.*$")).collect().sort("session_id")


def test_advancing_day_by_day_equals_a_full_rebuild(tmp_path, instance: dg.DagsterInstance):
    simulate(tmp_path / "full", days=12)
    full = sessions_of(build(tmp_path / "full", instance))

    simulate(tmp_path / "stream", days=9)
    build(tmp_path / "stream", instance)
    for _ in range(3):  # late events of earlier days arrive with each new day
        simulator.advance(tmp_path / "stream" / "sources")
        store = build(tmp_path / "stream", instance)
    assert sessions_of(store).equals(full)


def test_a_run_that_refined_no_event_does_not_rewrite_the_sessions(tmp_path, instance: dg.DagsterInstance):
    simulate(tmp_path, days=5)
    store = build(tmp_path, instance)
    version = store.version(REFINED_SESSIONS)

    build(tmp_path, instance)

    assert store.version(REFINED_SESSIONS) == version


def at(minute: int) -> datetime:
    return datetime(2025, 1, 1, 10, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("minutes", "sessions"),
    [([0, 30], 1), ([0, 31], 2), ([0, 20, 40, 59], 1), ([0, 40, 20], 1), ([0, 10, 45], 2)],
)
def test_more_than_thirty_minutes_of_inactivity_splits(minutes: list[int], sessions: int):
    events = pl.DataFrame(
        {
            "customer_id": [1] * len(minutes),
            "anonymous_id": [None] * len(minutes),
            "channel": ["web"] * len(minutes),
            "event_type": ["page_view"] * len(minutes),
            "event_at": [at(m) for m in minutes],
            "order_id": [None] * len(minutes),
        },
        schema_overrides={"anonymous_id": pl.String, "order_id": pl.Int64},
    )
    assert sessionize(events.lazy()).collect().height == sessions


def test_a_visitor_and_a_customer_are_different_users():
    events = pl.DataFrame(
        {
            "customer_id": [1, None, None],
            "anonymous_id": [None, "anon-1", "anon-2"],
            "channel": ["web"] * 3,
            "event_type": ["page_view", "page_view", "purchase"],
            "event_at": [at(0), at(1), at(2)],
            "order_id": [None, None, 9],
        }
    )
    rows = sessionize(events.lazy()).collect().sort("user_key")
    assert rows.select("user_key", "events", "purchases", "order_id").rows() == [
        ("customer:1", 1, 0, None),
        ("visitor:anon-1", 1, 0, None),
        ("visitor:anon-2", 1, 1, 9),
    ]


def test_the_events_of_touched_users_are_those_of_the_same_user_key():
    """A visitor id seen signed in belongs to the customer then, to the visitor otherwise."""
    events = pl.LazyFrame(
        {"customer_id": [1, None, None, 2, None], "anonymous_id": ["a", "a", "b", None, None]},
        schema={"customer_id": pl.Int64, "anonymous_id": pl.String},
    )

    def picked(new: pl.LazyFrame) -> list[tuple]:
        return events.filter(of_users(new)).collect().rows()

    assert picked(events.slice(1, 1)) == [(None, "a")]
    assert picked(events.slice(0, 1)) == [(1, "a")]
    assert picked(events.slice(3, 2)) == [(2, None)]
    assert picked(events) == [(1, "a"), (None, "a"), (None, "b"), (2, None)]


def test_the_declared_column_lineage_covers_exactly_the_session_columns():
    no_events = pl.LazyFrame(schema=contract_types(EVENTS.contract))
    columns = set(sessionize(no_events).collect_schema())
    assert set(SESSION_SOURCES) == columns
    assert all(set(sources) <= set(contract_types(EVENTS.contract)) for sources in SESSION_SOURCES.values())
