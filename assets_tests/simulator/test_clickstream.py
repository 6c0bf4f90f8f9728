"""The clickstream micro-batches, read back from the files, against their ground truth."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from assets_tests.simulator.helpers import event_files, read_tables
from lakehouse.simulator import CLICKSTREAM_DEFECTS_FILE
from lakehouse.simulator.clickstream import BATCH_HOURS, EVENT_FIELDS, LATENESS

# One worker makes the module's fixtures for every test here (each xdist worker would make its own).
pytestmark = pytest.mark.xdist_group(__name__)


@pytest.fixture(scope="module")
def events(demo: Path) -> pl.DataFrame:
    """Every line of every batch file, parsed, with its file and position (arrival order).

    The files are parsed as one JSON-lines text (each ends with a newline), every line's fields
    and types inferred from all lines: one parse instead of a frame per file."""
    files = event_files(demo)
    lines = pl.DataFrame({"file": list(files), "lines": [content.count(b"\n") for content in files.values()]})
    return (
        pl.read_ndjson(io.BytesIO(b"".join(files.values())), infer_schema_length=None)
        .with_columns(file=lines.select(pl.col("file").repeat_by("lines").explode()).to_series())
        .with_columns(
            line=pl.int_range(pl.len()).over("file"),
            at=pl.col("event_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_zone="UTC"),
        )
    )


@pytest.fixture(scope="module")
def defects(demo: Path) -> pl.DataFrame:
    return pl.read_parquet(demo / CLICKSTREAM_DEFECTS_FILE)


def _recorded(defects: pl.DataFrame, defect: str) -> set[str]:
    return set(defects.filter(pl.col("defect") == defect).get_column("key"))


def test_batches_are_final_json_lines_files_per_two_hours(demo: Path, events: pl.DataFrame) -> None:
    names = sorted(event_files(demo))
    assert BATCH_HOURS == 2 and timedelta(hours=2) == LATENESS  # a copy re-sent next batch is within
    assert names[0] == "2025-01-01/batch-0000.jsonl" and names[-1].startswith("2025-12-31/batch-")
    windows = {int(name[-10:-6]) for name in names}  # batch-NNNN: the 2-hour window of the day
    assert windows == set(range(24 // BATCH_HOURS))
    assert all(name.endswith(".jsonl") for name in names)  # no `.tmp` left behind
    assert events.columns[: len(EVENT_FIELDS)] == list(EVENT_FIELDS)
    assert set(events["event_type"]) == {"page_view", "add_to_cart", "checkout", "purchase"}


def test_manifest_counts_what_was_written(demo_manifest: dict[str, Any], events: pl.DataFrame, demo: Path):
    truth = demo_manifest["clickstream"]
    assert truth["batches"] == len(event_files(demo))
    assert truth["lines"] == events.height
    assert truth["events"] == events["event_id"].n_unique()


def test_each_tracked_order_has_one_purchase_event_at_its_time_by_its_customer(
    demo: Path, events: pl.DataFrame
):
    orders = read_tables(demo)["orders"].unique("order_id")
    purchases = events.filter(pl.col("event_type") == "purchase").unique("event_id")
    placed = orders.filter(pl.col("customer_id").is_not_null()).select(
        "order_id",
        "customer_id",
        "channel",
        at=pl.col("order_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%z").dt.convert_time_zone("UTC"),
    )
    assert purchases["order_id"].is_in(orders["order_id"].implode()).all()  # every one an order's
    assert 0.2 < purchases.height / orders.height < 0.3  # the tracked share, 25%
    matched = placed.join(purchases, on="order_id", how="inner", suffix="_event")
    assert (matched["at"] == matched["at_event"]).all()
    assert (matched["customer_id"] == matched["customer_id_event"]).all()
    assert (matched["channel"] == matched["channel_event"]).all()


def test_duplicates_are_the_recorded_ones_resent_in_a_later_batch(
    events: pl.DataFrame, defects: pl.DataFrame
):
    copies = events.filter(pl.col("event_id").is_duplicated())
    assert set(copies["event_id"]) == _recorded(defects, "duplicate_event")
    assert copies.height == 2 * len(_recorded(defects, "duplicate_event"))
    files = copies.group_by("event_id").agg(
        pl.col("file").n_unique(), pl.struct(pl.exclude("file", "line")).n_unique().alias("versions")
    )
    assert (files["file"] == 2).all() and (files["versions"] == 1).all()  # same event, another batch


def test_events_beyond_the_lateness_window_are_exactly_the_very_late_ones(
    events: pl.DataFrame, defects: pl.DataFrame
):
    """Recomputed from the files: the newest event time of the earlier files, minus the window."""
    newest = events.group_by("file").agg(pl.col("at").max()).sort("file")
    before = newest.with_columns(pl.col("at").cum_max().shift(1).alias("high_water")).drop("at")
    judged = events.join(before, on="file").with_columns(
        beyond=pl.col("at") < pl.col("high_water") - LATENESS, late=pl.col("at") < pl.col("high_water")
    )
    beyond = set(judged.filter("beyond")["event_id"])
    assert beyond == _recorded(defects, "very_late_event")
    assert len(beyond) > 30
    late_within = set(judged.filter(pl.col("late"), ~pl.col("beyond"))["event_id"])
    # late events are never beyond; many arrive after newer events of earlier batches
    assert not _recorded(defects, "late_event") & beyond
    assert len(_recorded(defects, "late_event") & late_within) > 30
    rules = defects.group_by("defect", "handling", "rule").len().sort("defect").drop("len")
    assert rules.rows() == [
        ("duplicate_event", "deduplicate", None),
        ("late_event", "accept", None),
        ("out_of_order", "accept", None),
        ("very_late_event", "quarantine", "event_at:within_lateness"),
    ]


def test_out_of_order_events_arrive_after_later_events(events: pl.DataFrame, defects: pl.DataFrame):
    ordered = events.sort("file", "line").with_columns(
        overtaken=pl.col("at") < pl.col("at").cum_max().shift(1)
    )
    overtaken = set(ordered.filter("overtaken")["event_id"])
    delayed = {"out_of_order", "late_event", "very_late_event", "duplicate_event"}  # a copy comes later
    assert overtaken <= set(defects.filter(pl.col("defect").is_in(delayed))["key"])
    out_of_order = _recorded(defects, "out_of_order")
    assert len(overtaken & out_of_order) > 0.6 * len(out_of_order)  # some have no event to overtake


def test_sessions_in_the_manifest_match_a_plain_recount(demo_manifest: dict[str, Any], events, defects):
    """Sessions of the accepted events (each once, none beyond the window), counted row by row."""
    accepted = events.unique("event_id").filter(
        ~pl.col("event_id").is_in(_recorded(defects, "very_late_event"))
    )
    rows = accepted.select(user=pl.coalesce(pl.format("c{}", "customer_id"), "anonymous_id"), at="at").sort(
        "user", "at"
    )
    sessions, previous = 0, (None, None)
    for user, at in rows.iter_rows():
        if user != previous[0] or at - previous[1] > timedelta(minutes=30):
            sessions += 1
        previous = (user, at)
    assert demo_manifest["clickstream"]["accepted_events"] == accepted.height
    assert demo_manifest["clickstream"]["sessions"] == sessions
