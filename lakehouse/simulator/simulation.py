"""Generating a simulation and advancing it day by day.

The written sources are a pure function of (scale, seed, start, days): `build_state`. Advancing
by k days builds the state for n + k days and writes the difference: the changed keys of each
database table (`changed_keys`: new rows, orders whose status moved on, deletes), the new payment
files, the new clickstream micro-batches and the new inventory snapshots.
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
from lakehouse.simulator.clock import day_start, utc_system_time
from lakehouse.simulator.defects import Sources, corrupt, mark
from lakehouse.simulator.deletes import deleted_keys, present, with_soft_deletes, with_test_records
from lakehouse.simulator.inventory import Inventory, build_inventory
from lakehouse.simulator.inventory import write_files as write_inventory_files
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
    inventory: Inventory


def build_state(params: Params) -> State:
    """The whole state in memory, every clickstream line included: for a small simulation."""
    world, marked, sources = _shop(params)
    clickstream = build_clickstream(world, params.scale, params.seed, params.start, params.days)
    return _state(params, world, marked, sources, clickstream)


def _state(
    params: Params,
    world: dict[str, pl.DataFrame],
    marked: dict[str, pl.DataFrame],
    sources: Sources,
    clickstream: Clickstream,
) -> State:
    inventory = build_inventory(world, params.scale, params.seed, params.start, params.days)
    manifest = {
        **build_manifest(params, marked, sources),
        "clickstream": clickstream.truth,
        "inventory": inventory.truth,
    }
    return State(params, sources, manifest, clickstream, inventory)


def _shop(params: Params) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame], Sources]:
    """The shop's world (deletes included), its defect-marked tables, and the sources as written."""
    world = with_soft_deletes(build_world(params.scale, params.seed, params.start, params.days), params)
    marked = with_test_records(mark(world, params.seed, params.days), params)
    return world, marked, corrupt(present(marked))


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
    world, marked, sources = _shop(params)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer.remove_outputs(out_dir)
    uri = writer.database_uri(out_dir, db_uri)
    writer.write_database(uri, sources.tables)
    report(f"wrote the shop database {redacted(uri)}: {_row_counts(sources.rows)}")
    sources = sources.written()  # the tables are in the database: let them go
    return _write_files(out_dir, params, (world, marked, sources), 0, report)


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
    world, marked, sources = _shop(params)
    uri = writer.database_uri(out_dir, db_uri)
    changed = writer.update_database(
        uri, sources.tables, changed_keys(sources.tables, deleted_keys(marked), old_params)
    )
    sources = sources.written()  # the tables are in the database: let them go
    report(f"updated the shop database {redacted(uri)}, keys changed: {changed}")
    return _write_files(out_dir, params, (world, marked, sources), old_params.days, report)


def changed_keys(
    tables: dict[str, pl.DataFrame], deletes: dict[str, dict[str, dict[str, Any]]], old: Params
) -> dict[str, pl.DataFrame]:
    """The keys of each shop table whose rows changed after the `old` simulation's days.

    Found without rebuilding the old tables (that doubled the memory and time of an advance): every
    change moves a row's `updated_at` into the new days (a new row, an order's final status, a soft
    delete), except a purge, which the `deletes` (`deletes.deleted_keys`) date.
    """
    since = pl.select(utc_system_time(pl.lit(day_start(old.start, old.days)))).item()
    changed = {}
    for table, keys in writer.KEY_COLUMNS.items():
        touched = tables[table].filter(pl.col("updated_at") >= since).select(keys)
        hard = deletes.get(table, {}).get("hard", {})
        purged = [int(key) for key, day in hard.items() if day >= old.days]  # single-column keys
        purged_keys = pl.DataFrame({keys[0]: purged}, schema={keys[0]: pl.Int64})
        changed[table] = pl.concat([touched, purged_keys], how="diagonal").unique().sort(keys)
    return changed


def _write_files(
    out_dir: Path,
    params: Params,
    shop: tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame], Sources],
    first_day: int,
    report: Progress,
) -> dict[str, Any]:
    """The landing files of the days from `first_day` on, then the ground truth, then the state
    file: it marks completion. Returns the manifest.

    The clickstream is written chunk by chunk as it is delivered, never held whole."""
    world, marked, sources = shop
    is_new = pl.col("day") >= first_day
    payments = sources.payment_lines.filter(is_new)
    files = writer.write_payment_files(out_dir, payments)
    report(f"wrote {files} payment files ({payments.height} lines)")
    written: list[tuple[int, int]] = []  # batches and events of each chunk

    def write_events(lines: pl.DataFrame) -> None:
        new = lines.filter(is_new)
        written.append((writer.write_event_batches(out_dir, json_lines(new)), new.height))

    clickstream = build_clickstream(world, params.scale, params.seed, params.start, params.days, write_events)
    batches, events = (sum(counts) for counts in zip(*written, strict=True))
    report(f"wrote {batches} clickstream batches ({events} events)")
    state = _state(params, world, marked, sources, clickstream)
    snapshots = write_inventory_files(out_dir, state.inventory, first_day)
    report(f"wrote {snapshots} inventory snapshots")
    writer.write_ground_truth(
        out_dir, sources.defects, state.manifest, clickstream.defects, state.inventory.defects
    )
    write_params(out_dir, params)
    report(f"wrote {writer.MANIFEST_FILE}: {len(sources.defects)} defects")
    return state.manifest


def _row_counts(rows: dict[str, int]) -> str:
    return ", ".join(f"{table} {count:,}" for table, count in rows.items() if table in writer.SCHEMAS)


def _silent(_: str) -> None:
    pass
