"""Generating a simulation and advancing it day by day.

The written sources are a pure function of (scale, seed, start, days). The customers and products
are small: they are simulated whole every time. The orders, order lines and payments, the
clickstream and the inventory snapshots are simulated and written a range of days at a time
(`chunk_days`), so the memory is bounded by a range, whatever the history; what a day depends on
from the days before is carried from range to range and from run to run (`carry`).

Advancing by k days simulates only the new days (and the two before them: their orders take their
final status) and writes the difference: the changed keys of each database table (`changed_keys`:
new rows, orders whose status moved on, deletes), the new payment files, the new clickstream
micro-batches and the new inventory snapshots. So `generate(days=n + k)` and `generate(days=n)`
then `advance(days=k)` write the same sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from lakehouse.simulator import landing, writer
from lakehouse.simulator.carry import Carry, read_deletions, remove_stale
from lakehouse.simulator.clickstream import CHUNK_DAYS, Clickstream, build_clickstream, day_ranges, json_lines
from lakehouse.simulator.clock import day_start, utc_system_time
from lakehouse.simulator.defects import TABLES, Sources, corrupt, mark
from lakehouse.simulator.deletes import (
    Deletions,
    deleted_keys,
    present,
    with_soft_deletes,
    with_test_records,
)
from lakehouse.simulator.inventory import write_files as write_inventory_files
from lakehouse.simulator.manifest import PEOPLE, build_manifest, day_ledger
from lakehouse.simulator.model import (
    STATUS_DELAY_DAYS,
    Sizes,
    build_days,
    build_people,
    build_world,
    customer_countries,
)
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
    """The whole state in memory, every table and clickstream line included: for a small simulation."""
    world, _ = with_soft_deletes(build_world(params.scale, params.seed, params.start, params.days), params)
    marked = with_test_records(mark(world, params.seed, params.days), params)
    sources = corrupt(present(marked))
    clickstream = build_clickstream(world, params.scale, params.seed, params.start, params.days)
    ledger = day_ledger(params, marked, 0, params.days)
    manifest = {
        **build_manifest(params, marked, sources, ledger, sources.defects),
        "clickstream": clickstream.truth,
    }
    return State(params, sources, manifest, clickstream)


@dataclass(frozen=True)
class _People:
    """The customers and products: the world's (soft deletes in), marked (test records in), written."""

    world: dict[str, pl.DataFrame]
    marked: dict[str, pl.DataFrame]
    sources: Sources
    deletions: Deletions


def _people(params: Params, carried: tuple[int, Deletions] | None = None) -> _People:
    """The customers and products after `params.days` days (`carried`: the deletions drawn before)."""
    people = build_people(params.scale, params.seed, params.start, params.days)
    world, deletions = with_soft_deletes(people, params, carried)
    marked = with_test_records(mark(world, params.seed, params.days), params)
    return _People(world, marked, corrupt(present(marked)), deletions)


def chunk_days(scale: float) -> int:
    """Days simulated at a time: `CHUNK_DAYS` up to scale 1, fewer above (memory follows a chunk)."""
    return max(1, min(CHUNK_DAYS, int(CHUNK_DAYS / scale)))


def generate(
    out_dir: Path,
    scale: float = 0.01,
    seed: int = 42,
    days: int = 365,
    start: date = date(2025, 1, 1),
    progress: Progress | None = None,
    db_uri: str | None = None,
    landing_uri: str | None = None,
) -> dict[str, Any]:
    """Write a simulation of `days` days from scratch into `out_dir`; returns its manifest.

    The shop database goes to `db_uri` (e.g. `postgresql://…`), by default to `out_dir/shop.db`;
    the landing files to `landing_uri` (a folder or `s3://…`: moved there, see `landing`), by
    default to `out_dir/landing`.
    """
    report = progress or _silent
    out_dir = Path(out_dir)
    params = Params(scale=scale, seed=seed, start=start, days=days)
    report(f"simulating {days} days from {start} at scale {scale} (seed {seed})")
    people = _people(params)
    out_dir.mkdir(parents=True, exist_ok=True)
    writer.remove_outputs(out_dir)
    uri = writer.database_uri(out_dir, db_uri)
    carry = Carry.start(params, people.world["products"], people.deletions)
    with writer.open_database(uri, must_exist=False) as database:
        database.create()
        for table in PEOPLE:
            database.insert(table, people.sources.tables[table])
        report(f"wrote the shop's {_row_counts(people.sources.rows)} to {redacted(uri)}")
        people = replace(people, sources=people.sources.written())  # in the database: let them go
        _simulate_days(out_dir, params, None, people, carry, database, report)
    manifest = _finish(out_dir, params, people, carry, report)
    _publish(out_dir, landing_uri, fresh=True, report=report)
    return manifest


def advance(
    out_dir: Path,
    days: int = 1,
    progress: Progress | None = None,
    db_uri: str | None = None,
    landing_uri: str | None = None,
) -> dict[str, Any]:
    """Append the next `days` days to the simulation in `out_dir`; returns the new manifest.

    `db_uri` names the shop database `generate` wrote to (not kept in `state.json`: it may hold a
    password), `landing_uri` the landing zone it moved its files to.
    """
    report = progress or _silent
    out_dir = Path(out_dir)
    old_params = read_params(out_dir)
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    params = replace(old_params, days=old_params.days + days)
    report(f"advancing from day {old_params.days} to day {params.days}")
    people = _people(params, (old_params.days, read_deletions(out_dir, old_params.days)))
    carry = Carry.read(out_dir, old_params, params, people.world["products"], people.deletions)
    uri = writer.database_uri(out_dir, db_uri)
    with writer.open_database(uri) as database:
        changed = changed_keys(people.sources.tables, deleted_keys(people.marked), old_params)
        counts = {
            table: database.rewrite(table, people.sources.tables[table], changed[table]) for table in PEOPLE
        }
        report(f"updated the shop database {redacted(uri)}, keys changed: {counts}")
        people = replace(people, sources=people.sources.written())
        _simulate_days(out_dir, params, old_params, people, carry, database, report)
    manifest = _finish(out_dir, params, people, carry, report)
    _publish(out_dir, landing_uri, fresh=False, report=report)
    return manifest


def _publish(out_dir: Path, landing_uri: str | None, fresh: bool, report: Progress) -> None:
    if landing.is_elsewhere(out_dir, landing_uri):
        report(f"moved {landing.publish(out_dir, landing_uri, fresh):,} landing files to {landing_uri}")


def changed_keys(
    tables: dict[str, pl.DataFrame], deletes: dict[str, dict[str, dict[str, Any]]], old: Params
) -> dict[str, pl.DataFrame]:
    """The keys of each of these shop tables whose rows changed after the `old` simulation's days.

    Found without rebuilding the old tables (that doubled the memory and time of an advance): every
    change moves a row's `updated_at` into the new days (a new row, an order's final status, a soft
    delete), except a purge, which the `deletes` (`deletes.deleted_keys`) date.
    """
    since = pl.select(utc_system_time(pl.lit(day_start(old.start, old.days)))).item()
    changed = {}
    for table, keys in writer.KEY_COLUMNS.items():
        if table not in tables:
            continue
        touched = tables[table].filter(pl.col("updated_at") >= since).select(keys)
        hard = deletes.get(table, {}).get("hard", {})
        purged = [int(key) for key, day in hard.items() if day >= old.days]  # single-column keys
        purged_keys = pl.DataFrame({keys[0]: purged}, schema={keys[0]: pl.Int64})
        changed[table] = pl.concat([touched, purged_keys], how="diagonal").unique().sort(keys)
    return changed


def _simulate_days(
    out_dir: Path,
    params: Params,
    old: Params | None,
    people: _People,
    carry: Carry,
    database: writer.ShopDatabase,
    report: Progress,
) -> None:
    """Simulate and write the days after the `old` simulation's (all, without one), a chunk at a
    time. The first chunk of an advance simulates the two days before too: their orders take
    their final status in the new days."""
    new_from = old.days if old else 0
    countries = customer_countries(people.world["customers"])
    for first, end in day_ranges(new_from, params.days, chunk_days(params.scale)):
        low = max(first - STATUS_DELAY_DAYS, 0) if first == new_from else first
        world = build_days(countries, params.scale, params.seed, params.start, params.days, low, end)
        marked = mark(world, params.seed, params.days)
        sources = corrupt(marked)
        keys = _write_rows(database, sources, params, old, low)
        carry.ledger = _with_days(carry.ledger, day_ledger(params, marked, low, end), low)
        is_new = pl.col("day") >= first
        carry.defects = pl.concat([carry.defects, sources.defects.filter(is_new)])
        payments = writer.write_payment_files(out_dir, sources.payment_lines.filter(is_new))
        orders, items = world["orders"].filter(is_new), world["order_items"].filter(is_new)
        lines = carry.collector.deliver(orders, items, params.scale, params.seed, params.start, first, end)
        batches = writer.write_event_batches(out_dir, json_lines(lines))
        snapshots = carry.supplier.snapshots(items, first, end)
        write_inventory_files(out_dir, snapshots, carry.supplier.files, first, end)
        days = f"day {end}" if end == first + 1 else f"days {first + 1}-{end}"
        report(
            f"{days} of {params.days}: {keys}, {_count(payments, 'payment file')}, "
            f"{_count(batches, 'clickstream batch', 'es')} ({lines.height:,} lines), "
            f"{_count(end - first, 'inventory snapshot')}"
        )


def _write_rows(
    database: writer.ShopDatabase, sources: Sources, params: Params, old: Params | None, low: int
) -> str:
    """The orders and order lines of days `low` on into the database: appended (generating), or
    (advancing) the orders from day `low` on and the lines of the new days replaced, so that an
    advance run again after a failure writes them once. Returns what was written."""
    orders, items = sources.tables["orders"], sources.tables["order_items"]
    if old is None:
        database.insert("orders", orders)
        database.insert("order_items", items)
        return f"{orders.height:,} orders, {items.height:,} order lines"
    sizes = Sizes.for_scale(params.scale)
    first_new = sizes.orders_before(max(low, old.days)) + 1  # this chunk's new days' first order
    written = database.rewrite_from("orders", "order_id", sizes.orders_before(low) + 1, orders)
    lines = database.rewrite_from(
        "order_items", "order_id", first_new, items.filter(pl.col("order_id") >= first_new)
    )
    return f"{written:,} orders (from day {low + 1}) and {lines:,} order lines rewritten"


def _with_days(ledger: pl.DataFrame, days: pl.DataFrame, first: int) -> pl.DataFrame:
    """The ledger with the days from `first` on replaced by `days`."""
    return days if ledger.is_empty() else pl.concat([ledger.filter(pl.col("day") < first), days])


def _finish(out_dir: Path, params: Params, people: _People, carry: Carry, report: Progress) -> dict[str, Any]:
    """The ground truth, the carry, then the state file: it marks completion. Returns the manifest."""
    defects = _shop_defects(people.sources.defects, carry.defects)
    tally = carry.collector.tally
    manifest = {
        **build_manifest(params, people.marked, people.sources, carry.ledger, defects),
        "clickstream": tally.truth(),
        "inventory": carry.supplier.truth(),
    }
    writer.write_ground_truth(out_dir, defects, manifest, tally.defects(), carry.supplier.defects())
    carry.write(out_dir, params.days)
    write_params(out_dir, params)
    remove_stale(out_dir, params.days)
    report(f"wrote {writer.MANIFEST_FILE}: {len(defects)} defects")
    return manifest


def _shop_defects(people: pl.DataFrame, days: pl.DataFrame) -> pl.DataFrame:
    """Every defect record of the shop, table by table in `TABLES` order, each in row order."""
    records = pl.concat([people, days])
    return pl.concat([records.filter(pl.col("table") == table) for table in TABLES])


def _row_counts(rows: dict[str, int]) -> str:
    return ", ".join(f"{table} {count:,}" for table, count in rows.items() if table in writer.SCHEMAS)


def _count(count: int, noun: str, plural: str = "s") -> str:
    return f"{count:,} {noun}{'' if count == 1 else plural}"


def _silent(_: str) -> None:
    pass
