"""Generating a simulation and advancing it day by day.

The written sources are a pure function of (scale, seed, start, days): `build_state`. Advancing
by k days builds the state for n and for n + k days and writes the difference: the changed keys
of each database table (new rows and orders whose status moved on), the new payment files and
the new clickstream micro-batches.
So `generate(days=n + k)` and `generate(days=n)` then `advance(days=k)` write the same sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from lakehouse.simulator import writer
from lakehouse.simulator.clickstream import Clickstream, build_clickstream, json_lines
from lakehouse.simulator.defects import Sources, corrupt, mark
from lakehouse.simulator.deletes import present, with_soft_deletes, with_test_records
from lakehouse.simulator.manifest import build_manifest
from lakehouse.simulator.model import build_world
from lakehouse.simulator.state import Params, read_params, write_params
from lakehouse.sources.errors import redacted

Progress = Callable[[str], None]


@dataclass(frozen=True)
class State:
    """Everything the simulated source systems hold after `params.days` days."""

    params: Params
    sources: Sources
    manifest: dict[str, Any]
    clickstream: Clickstream


def build_state(params: Params) -> State:
    world = with_soft_deletes(build_world(params.scale, params.seed, params.start, params.days), params)
    marked = with_test_records(mark(world, params.seed, params.days), params)
    sources = corrupt(present(marked))
    clickstream = build_clickstream(world, params.scale, params.seed, params.start, params.days)
    manifest = {**build_manifest(params, marked, sources), "clickstream": clickstream.truth}
    return State(params, sources, manifest, clickstream)


def generate(
    out_dir: Path,
    scale: float = 0.01,
    seed: int = 42,
    days: int = 365,
    start: date = date(2025, 1, 1),
    progress: Progress | None = None,
    db_uri: str | None = None,
) -> dict[str, Any]:
    """Write a simulation of `days` days from scratch into `out_dir`; returns its manifest.

    The shop database goes to `db_uri` (e.g. `postgresql://…`), by default to `out_dir/shop.db`.
    """
    report = progress or _silent
    out_dir = Path(out_dir)
    params = Params(scale=scale, seed=seed, start=start, days=days)
    report(f"simulating {days} days from {start} at scale {scale} (seed {seed})")
    state = build_state(params)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer.remove_outputs(out_dir)
    uri = writer.database_uri(out_dir, db_uri)
    writer.write_database(uri, state.sources.tables)
    report(f"wrote the shop database {redacted(uri)}: {_row_counts(state.sources.tables)}")
    _write_files(out_dir, state, state.sources.payment_lines, state.clickstream.lines, report)
    return state.manifest


def advance(
    out_dir: Path, days: int = 1, progress: Progress | None = None, db_uri: str | None = None
) -> dict[str, Any]:
    """Append the next `days` days to the simulation in `out_dir`; returns the new manifest.

    `db_uri` names the shop database `generate` wrote to (not kept in `state.json`: it may hold a
    password).
    """
    report = progress or _silent
    out_dir = Path(out_dir)
    old_params = read_params(out_dir)
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    params = replace(old_params, days=old_params.days + days)
    report(f"advancing from day {old_params.days} to day {params.days}")
    old, new = build_state(old_params), build_state(params)
    uri = writer.database_uri(out_dir, db_uri)
    changed = writer.update_database(uri, old.sources.tables, new.sources.tables)
    report(f"updated the shop database {redacted(uri)}, keys changed: {changed}")
    is_new = pl.col("day") >= old_params.days
    _write_files(
        out_dir, new, new.sources.payment_lines.filter(is_new), new.clickstream.lines.filter(is_new), report
    )
    return new.manifest


def _write_files(
    out_dir: Path, state: State, payments: pl.DataFrame, events: pl.DataFrame, report: Progress
) -> None:
    """The landing files, then the ground truth, then the state file: it marks completion."""
    files = writer.write_payment_files(out_dir, payments)
    report(f"wrote {files} payment files ({payments.height} lines)")
    batches = writer.write_event_batches(out_dir, json_lines(events))
    report(f"wrote {batches} clickstream batches ({events.height} events)")
    writer.write_ground_truth(out_dir, state.sources.defects, state.manifest, state.clickstream.defects)
    write_params(out_dir, state.params)
    report(f"wrote {writer.MANIFEST_FILE}: {len(state.sources.defects)} defects")


def _row_counts(tables: dict[str, pl.DataFrame]) -> str:
    return ", ".join(f"{table} {frame.height:,}" for table, frame in tables.items())


def _silent(_: str) -> None:
    pass
