"""The one seam every table read goes through: a table pinned to one Delta version.

A `PinnedTable` is a table at the version a reader pinned; every read of it (scan, newest value,
committed batches, file statistics) is of that version. Readers get pins two ways:

- `DeltaStore` pins the newest version (operations outside Dagster, checks, tests). Whoever
  commits something computed from it records the version itself (e.g. replay's input versions).
- `StepReads`, a store as one step of a Dagster run reads it (`DeltaStore.reading(context)`), pins
  the version the run reads (`delta_tables.version_for_run`: the run's own newest write, else the
  newest version from before the run started) and logs it as an `AssetObservation` of the table.
  A table the step itself writes is pinned at its newest version instead: runs go in parallel, and
  its watermark (what is already in it) must include what a run that wrote it meanwhile committed.
  The step is the table's only writer meanwhile (its concurrency pool, `lakehouse.lib.pools`), or,
  for a day-sliced fact, its commit is checked against that version (`delta_tables.write`).

Within a run the IO manager pins the same way, so the versions a commit was computed from need
no memory between reading and committing: the Dagster inputs' versions are found again by the same
rule, and the step's other reads are its observations in the run's event log (`step_record`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.snapshots import one_read

if TYPE_CHECKING:
    from lakehouse.lib.storage.store import DeltaStore

# Metadata of the observation a step logs for each table it read: the version it read.
READ_VERSION = "delta/read_version"

Key = dg.AssetKey | Sequence[str]


def key_path(key: Key) -> list[str]:
    return list(key.path) if isinstance(key, dg.AssetKey) else list(key)


def table_name(key: Key) -> str:
    """`refined/orders`: how commit metadata and lineage name a table."""
    return "/".join(key_path(key))


@dataclass(frozen=True)
class PinnedTable:
    name: str
    uri: str
    version: int | None  # None: the table does not exist (for this reader)

    @property
    def exists(self) -> bool:
        return self.version is not None

    def scan(self) -> pl.LazyFrame:
        """Lazy read of the pinned version; a clear error when the table was never written."""
        if self.version is None:
            missing = f"table {self.name} does not exist yet at {self.uri}: materialise it first"
            raise FileNotFoundError(missing)
        return delta_tables.scan(self.uri, at_version=self.version)

    def scan_or_none(self) -> pl.LazyFrame | None:
        return self.scan() if self.exists else None

    def newest(self, column: str) -> object | None:
        """The largest value of `column`; None when the table or its rows are missing."""
        return delta_tables.newest(self.uri, column, self.version) if self.exists else None

    def committed_batches(self, batch_ids: list[str]) -> set[str]:
        if not self.exists:
            return set()
        return delta_tables.committed_batches(self.uri, batch_ids, at_version=self.version)

    def undone_batches(self, batch_ids: list[str]) -> set[str]:
        if not self.exists:
            return set()
        return delta_tables.undone_batches(self.uri, batch_ids, at_version=self.version)

    def add_actions(self) -> pl.DataFrame:
        """The pinned version's files with their statistics (empty when the table does not exist)."""
        return delta_tables.add_actions(self.uri, self.version) if self.exists else pl.DataFrame()


class TableReads:
    """Reads of tables by asset key, each through the table's pin (`pin`, given by a subclass).

    A pin opens the table (its log) to find the version; the read of that version then uses the
    same snapshot (`snapshots.one_read`) instead of opening it again.
    """

    def pin(self, key: Key) -> PinnedTable:
        raise NotImplementedError

    def exists(self, key: Key) -> bool:
        return self.pin(key).exists

    def version(self, key: Key) -> int | None:
        return self.pin(key).version

    def scan(self, key: Key) -> pl.LazyFrame:
        with one_read():
            return self.pin(key).scan()

    def scan_or_none(self, key: Key) -> pl.LazyFrame | None:
        with one_read():
            return self.pin(key).scan_or_none()

    def newest(self, key: Key, column: str) -> object | None:
        with one_read():
            return self.pin(key).newest(column)

    def committed_batches(self, key: Key, batch_ids: list[str]) -> set[str]:
        with one_read():
            return self.pin(key).committed_batches(batch_ids)

    def add_actions(self, key: Key) -> pl.DataFrame:
        with one_read():
            return self.pin(key).add_actions()


@dataclass(frozen=True)
class RunSnapshot:
    """What a run reads: each table as the run last wrote it, else as it was when the run started."""

    run_id: str
    started_ms: int

    def version(self, uri: str) -> int | None:
        return delta_tables.version_for_run(uri, self.run_id, self.started_ms)


def run_snapshot(instance: dg.DagsterInstance | None, run_id: str) -> RunSnapshot | None:
    """The snapshot of run `run_id` (None outside a recorded run: then reads pin the newest version)."""
    record = instance.get_run_record_by_id(run_id) if instance is not None else None
    if record is None or record.start_time is None:
        return None
    return RunSnapshot(run_id, int(record.start_time * 1000))


@dataclass(frozen=True)
class StepReads(TableReads):
    """The store as one step of a run reads it: the run's versions, each read logged as observed."""

    store: DeltaStore
    context: dg.AssetExecutionContext

    @functools.cached_property
    def snapshot(self) -> RunSnapshot | None:
        """What the step's run reads, looked up once for all its reads."""
        # The op context's run id: an asset invoked directly (a unit test) has one too, and no run.
        return run_snapshot(self.context.instance, self.context.op_execution_context.run_id)

    @functools.cached_property
    def own_tables(self) -> set[dg.AssetKey]:
        """The tables the step writes: read at their newest version, not the run's snapshot."""
        return set(self.context.selected_asset_keys)

    @functools.cached_property
    def observed(self) -> dict[dg.AssetKey, int]:
        """The version each table was last observed read at: reading it again at the same version
        logs no second observation (an event costs the step a write to the event log)."""
        return {}

    def pin(self, key: Key) -> PinnedTable:
        asset = dg.AssetKey(key_path(key))
        pinned = self.store.pin(key, None if asset in self.own_tables else self.snapshot)
        if pinned.version is not None and self.observed.get(asset) != pinned.version:
            self.observed[asset] = pinned.version
            self.context.log_event(
                dg.AssetObservation(asset_key=asset, metadata={READ_VERSION: pinned.version})
            )
        return pinned


@dataclass(frozen=True)
class StepRecord:
    """What the run's event log says of one step: when it (last) started, and the tables it read."""

    started_at: float | None = None
    reads: dict[str, int] = field(default_factory=dict)


# Records of a run read at a time, newest first, when looking for one step's (each costs ~0.7 ms to
# deserialise: a step's own reads and start are usually the newest few).
RECORDS_PAGE = 8


def step_record(instance: dg.DagsterInstance | None, run_id: str, step_key: str) -> StepRecord:
    """The step's latest start and what it read since (a retried step's earlier reads are not its).

    The run's records are read newest first, a page at a time, down to the step's latest start:
    the records of the steps before it are never read (reading them all cost ~40 ms of CPU a write
    in a 60-step run, and grew with the run)."""
    if instance is None:
        return StepRecord()
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.ASSET_OBSERVATION}
    reads: dict[str, int] = {}
    cursor, more = None, True
    while more:
        page = instance.get_records_for_run(run_id, cursor, kinds, RECORDS_PAGE, ascending=False)
        for entry in (r.event_log_entry for r in page.records if r.event_log_entry.step_key == step_key):
            if entry.dagster_event_type == dg.DagsterEventType.STEP_START:
                return StepRecord(entry.timestamp, reads)
            if (observed := entry.asset_observation) is not None and READ_VERSION in observed.metadata:
                reads.setdefault(table_name(observed.asset_key), observed.metadata[READ_VERSION].value)
        cursor, more = page.cursor, page.has_more
    return StepRecord(None, reads)
