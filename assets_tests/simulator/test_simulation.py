from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from assets_tests.simulator.helpers import (
    event_files,
    inventory_files,
    payment_files,
    read_tables,
    sorted_tables,
    sources_digest,
)
from lakehouse.simulator import (
    CLICKSTREAM_DEFECTS_FILE,
    DEFECTS_FILE,
    INVENTORY_DEFECTS_FILE,
    MANIFEST_FILE,
    PAYMENTS_DIR,
    advance,
    generate,
    read_params,
)
from lakehouse.simulator.clickstream import CHUNK_DAYS

SMALL = {"scale": 0.002, "seed": 7, "start": date(2025, 3, 1)}


def _assert_same_sources(a: Path, b: Path) -> None:
    for table, frame in sorted_tables(a).items():
        assert frame.equals(sorted_tables(b)[table]), table
    assert payment_files(a) == payment_files(b)
    assert event_files(a) == event_files(b)
    assert inventory_files(a) == inventory_files(b)
    assert (a / MANIFEST_FILE).read_text() == (b / MANIFEST_FILE).read_text()
    assert pl.read_parquet(a / DEFECTS_FILE).equals(pl.read_parquet(b / DEFECTS_FILE))
    clickstream_defects = [pl.read_parquet(d / CLICKSTREAM_DEFECTS_FILE).sort(pl.all()) for d in (a, b)]
    assert clickstream_defects[0].equals(clickstream_defects[1])
    assert pl.read_parquet(a / INVENTORY_DEFECTS_FILE).equals(pl.read_parquet(b / INVENTORY_DEFECTS_FILE))
    assert read_params(a) == read_params(b)


def test_same_arguments_write_identical_sources(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", days=30, **SMALL)
    second = generate(tmp_path / "b", days=30, **SMALL)

    assert first == second
    for table, frame in read_tables(tmp_path / "a").items():  # same rows in the same order
        assert frame.equals(read_tables(tmp_path / "b")[table]), table
    assert payment_files(tmp_path / "a") == payment_files(tmp_path / "b")
    _assert_same_sources(tmp_path / "a", tmp_path / "b")


def test_another_seed_writes_other_sources(tmp_path: Path) -> None:
    generate(tmp_path / "a", days=30, **SMALL)
    generate(tmp_path / "b", days=30, **{**SMALL, "seed": 8})

    a, b = read_tables(tmp_path / "a"), read_tables(tmp_path / "b")
    for table in ("customers", "products", "orders", "order_items"):
        assert not a[table].equals(b[table]), table
    assert payment_files(tmp_path / "a") != payment_files(tmp_path / "b")
    assert event_files(tmp_path / "a") != event_files(tmp_path / "b")


@pytest.mark.parametrize("more_days", [1, 3, CHUNK_DAYS + 1])
def test_advancing_equals_generating_the_longer_simulation(tmp_path: Path, more_days: int) -> None:
    """Also over more days than one chunk simulates: each chunk writes its own days' order lines."""
    expected = generate(tmp_path / "full", days=20 + more_days, **SMALL)
    generate(tmp_path / "advanced", days=20, **SMALL)
    before = sorted_tables(tmp_path / "advanced")

    manifest = advance(tmp_path / "advanced", days=more_days)

    assert manifest == expected
    assert manifest["days"] == 20 + more_days
    _assert_same_sources(tmp_path / "full", tmp_path / "advanced")
    # an order placed two days before the old end took its final status: an update, not an insert
    orders = sorted_tables(tmp_path / "advanced")["orders"]
    updated = orders.join(before["orders"], on="order_id", suffix="_before").filter(
        pl.col("status") != pl.col("status_before")
    )
    assert updated.height > 0
    assert set(updated["status_before"]) == {"placed"}


def test_advancing_over_the_inventory_defect_days_equals_generating(tmp_path: Path) -> None:
    """Days 3-12 hold every kind of inventory defect: each is written by the advance that reaches it."""
    generate(tmp_path / "full", days=15, **SMALL)
    generate(tmp_path / "advanced", days=3, **SMALL)

    advance(tmp_path / "advanced", days=12)

    assert len(inventory_files(tmp_path / "full")) == 2 * 15
    _assert_same_sources(tmp_path / "full", tmp_path / "advanced")


def test_advancing_twice_equals_advancing_once(tmp_path: Path) -> None:
    generate(tmp_path / "once", days=10, **SMALL)
    generate(tmp_path / "twice", days=10, **SMALL)

    advance(tmp_path / "once", days=2)
    advance(tmp_path / "twice")
    advance(tmp_path / "twice")

    _assert_same_sources(tmp_path / "once", tmp_path / "twice")


def test_generate_replaces_a_simulation_but_keeps_other_files(tmp_path: Path) -> None:
    generate(tmp_path, days=30, **SMALL)
    (tmp_path / "landing" / "inventory").mkdir(exist_ok=True)
    (tmp_path / "landing" / "inventory" / "stock.json").write_text("{}")
    (tmp_path / PAYMENTS_DIR / "notes.txt").write_text("not a settlement file")

    manifest = generate(tmp_path, days=5, **SMALL)

    assert manifest["days"] == 5
    assert sorted(payment_files(tmp_path)) == [
        "notes.txt",
        "settlement_2025-03-02.csv",
        "settlement_2025-03-03.csv",
        "settlement_2025-03-04.csv",
        "settlement_2025-03-05.csv",
    ]
    assert sorted(inventory_files(tmp_path)) == [
        *(f"inventory_2025-03-0{day}.parquet{suffix}" for day in range(1, 6) for suffix in ("", ".done")),
        "stock.json",
    ]
    assert (tmp_path / "landing" / "inventory" / "stock.json").read_text() == "{}"
    assert json.loads((tmp_path / MANIFEST_FILE).read_text()) == manifest
    assert read_params(tmp_path).days == 5


def test_advance_needs_a_simulation(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="generate first"):
        advance(tmp_path)


def test_advance_needs_at_least_one_day(tmp_path: Path) -> None:
    generate(tmp_path, days=3, **SMALL)
    with pytest.raises(ValueError, match="at least 1"):
        advance(tmp_path, days=0)


def test_the_carry_state_follows_the_days_and_an_advance_needs_it(tmp_path: Path) -> None:
    """`advance` goes on from the carry state of the last run (never the history): one folder,
    named by the days simulated; without it the error says what to do."""
    generate(tmp_path, days=3, **SMALL)
    advance(tmp_path)
    assert sorted(path.name for path in tmp_path.glob("carry-*")) == ["carry-4"]

    shutil.rmtree(tmp_path / "carry-4")
    with pytest.raises(FileNotFoundError, match=r"no carry state for day 4 .* generate the simulation again"):
        advance(tmp_path)


def test_progress_reports_each_step(tmp_path: Path) -> None:
    messages: list[str] = []
    generate(tmp_path, days=3, progress=messages.append, **SMALL)
    advance(tmp_path, progress=messages.append)

    assert messages[0] == "simulating 3 days from 2025-03-01 at scale 0.002 (seed 7)"
    assert "advancing from day 3 to day 4" in messages
    assert len(messages) == 8  # each run: its start, the people, one chunk of days, the manifest
    chunks = [m for m in messages if m.startswith("day")]
    assert [m.split(":")[0] for m in chunks] == ["days 1-3 of 3", "day 4 of 4"]
    batches = sorted(event_files(tmp_path))
    new_batches = [name for name in batches if name.startswith("2025-03-04/")]
    assert f" {len(batches) - len(new_batches)} clickstream batches " in chunks[0]
    assert f" {len(new_batches)} clickstream batches " in chunks[1]


# SHA-256 of everything written (`sources_digest`) by the simulator before it wrote day by day and
# chunk by chunk: streaming must not change a byte. Regenerate only for a deliberate change of output.
DEMO_DIGEST = "4475a8a79289b5396f53bdd6727f358d14ba1ed74b080e437c3b0f7a0387a272"
SCALE_0_1_45_DAYS_DIGEST = "756ff63cfea9f455a5a37d9b6c8615b73b659c3a6e1357dea32930a9327473e9"


def test_the_demo_sources_are_byte_identical_to_the_reference(demo: Path) -> None:
    assert sources_digest(demo) == DEMO_DIGEST


def test_a_tenth_scale_over_chunk_boundaries_is_byte_identical_to_the_reference(tmp_path: Path) -> None:
    generate(tmp_path, scale=0.1, seed=42, days=45)  # two clickstream chunks
    assert sources_digest(tmp_path) == SCALE_0_1_45_DAYS_DIGEST
