"""Sessions: the simulator's count, and late events merged in equal a full rebuild, replacing only
the days they change."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import pytest

from lakehouse import simulator
from lakehouse.defs.refined.events import EVENTS
from lakehouse.defs.refined.sessions import (
    REFINED_SESSIONS,
    SESSION_SOURCES,
    WATERMARK,
    day_slices,
    in_day_order,
    of_users,
    sessionize,
    users_apart,
)
from lakehouse.lib.quality.contract import contract_types
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.delta_tables import REPLACED_SLICES_COMMIT_KEY
from lakehouse.lib.storage.write_spec import REPLACED_SLICES

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


def days_differing(before: pl.DataFrame, after: pl.DataFrame) -> list[str]:
    """The days of the sessions in one table and not the other."""
    gone, new = (
        before.join(after, on=before.columns, how="anti", nulls_equal=True),
        after.join(before, on=before.columns, how="anti", nulls_equal=True),
    )
    return sorted({d.isoformat() for d in pl.concat([gone, new])["session_date"]})


def newest_slices_replaced(store) -> list[str]:
    """The days the table's newest slice replace named (a compaction may have followed it)."""
    commits = delta_tables.commits_newest_first(store.uri(REFINED_SESSIONS))
    return json.loads(next(c for c in commits if REPLACED_SLICES_COMMIT_KEY in c)[REPLACED_SLICES_COMMIT_KEY])


# Big enough for late events to reach the day before: on the 10th and the 12th, some events of the
# day before arrive (10 to 100 minutes late, after midnight) and change its sessions.
LATE_ACROSS_MIDNIGHT = {"scale": 0.03}


def test_advancing_day_by_day_equals_a_full_rebuild(tmp_path, instance: dg.DagsterInstance):
    """Each day, exactly the days whose sessions changed are replaced (the new day, and the day
    before when late events reach it), and the sessions are the simulator's count."""
    simulate(tmp_path / "full", days=12, **LATE_ACROSS_MIDNIGHT)
    full = sessions_of(build(tmp_path / "full", instance))

    simulate(tmp_path / "stream", days=9, **LATE_ACROSS_MIDNIGHT)
    store = build(tmp_path / "stream", instance)
    replaced = []
    for _ in range(3):  # late events of earlier days arrive with each new day
        before = sessions_of(store)
        manifest = simulator.advance(tmp_path / "stream" / "sources")
        store = build(tmp_path / "stream", instance)
        after = sessions_of(store)
        assert after.height == manifest["clickstream"]["sessions"]
        assert newest_slices_replaced(store) == days_differing(before, after)
        replaced.append(newest_slices_replaced(store))
    assert sessions_of(store).equals(full)
    assert replaced == [["2025-01-09", "2025-01-10"], ["2025-01-11"], ["2025-01-11", "2025-01-12"]]


def test_a_run_that_refined_no_event_does_not_rewrite_the_sessions(tmp_path, instance: dg.DagsterInstance):
    simulate(tmp_path, days=5)
    store = build(tmp_path, instance)
    version = store.version(REFINED_SESSIONS)

    build(tmp_path, instance)

    assert store.version(REFINED_SESSIONS) == version


def event(user: int | str, day: int, hour: int, minute: int, refined: int = 0) -> dict:
    """A page view by customer `user` (or visitor, given text) at that time of 2025-01-`day`,
    refined at hour `refined` of 2025-02-01."""
    customer, visitor = (user, None) if isinstance(user, int) else (None, user)
    return {
        "customer_id": customer,
        "anonymous_id": visitor,
        "channel": "web",
        "event_type": "page_view",
        "event_at": datetime(2025, 1, day, hour, minute, tzinfo=UTC),
        "order_id": None,
        "_refined_at": datetime(2025, 2, 1, refined, tzinfo=UTC),
    }


def test_late_events_replace_the_days_they_move_sessions_between():
    """Before midnight, late: a visitor's session moves to the day before, and a customer's two
    sessions join into one across midnight. Both days are replaced, with the untouched customer's
    and visitor's sessions of those days as they were; the day after is not."""
    held_events = [
        *(event("anon-v", 2, 0, m) for m in (10, 20)),  # a session on the 2nd
        *(event(1, 1, 23, m) for m in (0, 20)),  # a session on the 1st
        event(1, 2, 0, 5),  # 45 minutes later: a session on the 2nd
        *(event(2, d, 12, 0) for d in (1, 2, 3)),  # untouched: a session a day
        event("anon-w", 1, 15, 0),  # untouched visitor
    ]
    late = [event("anon-v", 1, 23, 50, refined=1), event(1, 1, 23, 40, refined=1)]
    every = pl.DataFrame(
        [*held_events, *late], schema_overrides={"anonymous_id": pl.String, "order_id": pl.Int64}
    )
    old, new = (pl.lit(datetime(2025, 2, 1, h, tzinfo=UTC)).alias(WATERMARK) for h in (0, 1))
    held = sessionize(every.head(len(held_events)).lazy()).with_columns(old)

    out = day_slices(every.lazy(), held, datetime(2025, 2, 1, tzinfo=UTC), new)

    assert out.metadata[REPLACED_SLICES].value == ["2025-01-01", "2025-01-02"]
    rows = out.value.collect()
    assert rows.select("session_id", "events", "session_end").rows() == [
        ("customer:1@2025-01-01T23:00:00.000Z", 4, datetime(2025, 1, 2, 0, 5, tzinfo=UTC)),
        ("customer:2@2025-01-01T12:00:00.000Z", 1, datetime(2025, 1, 1, 12, tzinfo=UTC)),
        ("visitor:anon-v@2025-01-01T23:50:00.000Z", 3, datetime(2025, 1, 2, 0, 20, tzinfo=UTC)),
        ("visitor:anon-w@2025-01-01T15:00:00.000Z", 1, datetime(2025, 1, 1, 15, tzinfo=UTC)),
        ("customer:2@2025-01-02T12:00:00.000Z", 1, datetime(2025, 1, 2, 12, tzinfo=UTC)),
    ]
    assert (rows[WATERMARK] == datetime(2025, 2, 1, 1, tzinfo=UTC)).all()
    untouched = held.filter(pl.col("session_date") == date(2025, 1, 3)).collect()
    assert (
        pl.concat([untouched, rows])
        .drop(WATERMARK)
        .sort("session_id")
        .equals(sessionize(every.lazy()).collect().sort("session_id"))
    )


def test_the_full_build_gives_every_session_in_day_order(tmp_path):
    """Users apart in groups, each spilled sorted by day, read back a few days at a time: whole
    days a batch, in day order (delta-rs then writes files of nearby days). The groups' sessions
    come newest first here: only the spill's sort puts its files in day order."""
    events = pl.DataFrame(
        [
            event(user, day, hour, 0)
            for user in (1, 2, "anon-a", "anon-b")
            for day in (3, 1, 2)
            for hour in (9, 20)
        ]
    )
    read: list[int] = []  # the events' rows read, pass by pass

    def counted(users: pl.Series) -> pl.Series:
        read.append(users.len())
        return users

    scanned = events.lazy().with_columns(pl.col("customer_id").map_batches(counted, return_dtype=pl.Int64))
    build = lambda some: sessionize(some).sort("session_start", descending=True)  # noqa: E731
    days = tmp_path / "days"
    batches = in_day_order(users_apart(scanned, 6, build, tmp_path / "scratch"), days, batch_rows=3)

    frames = list(batches.batches)
    assert sum(read) == 24  # split into 4 groups in one pass, not read once a group
    assert [f.height for f in frames] == [8, 8, 8]  # a day a batch: 3 rows' worth is one day
    assert pl.concat(frames).equals(sessionize(events.lazy()).collect().sort("session_date", "session_id"))
    assert len(list(days.iterdir())) == 4  # 24 events, 6 a group
    assert all(pl.read_parquet(spilled)["session_date"].is_sorted() for spilled in days.iterdir())


def test_events_that_change_no_session_replace_no_day():
    """A late event already held (refined again, say) changes no session: nothing is written."""
    events = pl.DataFrame([event(1, 1, 10, 0), event(1, 1, 10, 5, refined=1)])
    held = sessionize(events.lazy()).with_columns(pl.lit(datetime(2025, 2, 1, tzinfo=UTC)).alias(WATERMARK))

    out = day_slices(events.lazy(), held, datetime(2025, 2, 1, tzinfo=UTC), pl.lit(None).alias(WATERMARK))

    assert out.value is None
    assert out.metadata["days_replaced"].value == 0


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
