"""What each step of a finished run cost, read back from its event log (see `costs`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from lakehouse.lib.quality.checks import CHECKS_STEP
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.reads import READ_VERSION, RunSnapshot, run_snapshot, table_name
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import plain
from lakehouse.operations.costs import MemorySampler, StepCost

_DONE = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
_KINDS = {
    dg.DagsterEventType.STEP_START,
    *_DONE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.ASSET_OBSERVATION,
}


@dataclass
class _Step:
    started: float = 0.0
    finished: float = 0.0
    assets: list[dg.AssetKey] = field(default_factory=list)
    checks: list[dg.AssetCheckKey] = field(default_factory=list)
    reads: dict[str, int] = field(default_factory=dict)
    rows_written: int = 0


def step_costs(
    instance: dg.DagsterInstance,
    run_id: str,
    definitions: dg.Definitions,
    store: DeltaStore,
    sampler: MemorySampler,
) -> list[StepCost]:
    """The cost of every step the run finished, in the order they ran."""
    steps = _steps(instance, run_id)
    graph = definitions.resolve_asset_graph()
    snapshot = run_snapshot(instance, run_id)
    rows = _RowCounts(store, snapshot)
    costs = []
    for key, step in steps.items():
        if not step.finished:
            continue
        read = {
            **{name: rows.pinned(name) for name in _tables_read(graph, step)},
            **{name: rows.at(name, version) for name, version in step.reads.items()},
        }
        costs.append(
            StepCost(
                step=key,
                what=_what(key, step),
                seconds=step.finished - step.started,
                rows_read=sum(read.values()),
                rows_written=step.rows_written,
                peak_mb=sampler.peak_between(step.started, step.finished),
            )
        )
    return costs


def _steps(instance: dg.DagsterInstance, run_id: str) -> dict[str, _Step]:
    steps: dict[str, _Step] = {}
    for entry in (r.event_log_entry for r in instance.get_records_for_run(run_id, of_type=_KINDS).records):
        if entry.step_key is None:
            continue
        step = steps.setdefault(entry.step_key, _Step())
        kind = entry.dagster_event_type
        if kind == dg.DagsterEventType.STEP_START:
            step.started = entry.timestamp
        elif kind in _DONE:
            step.finished = entry.timestamp
        elif (materialization := entry.asset_materialization) is not None:
            step.assets.append(materialization.asset_key)
            step.rows_written += int(plain(materialization.metadata.get("rows_written", 0)))
        elif (observed := entry.asset_observation) is not None and READ_VERSION in observed.metadata:
            step.reads[table_name(observed.asset_key)] = int(plain(observed.metadata[READ_VERSION]))
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = entry.dagster_event.event_specific_data
            step.checks.append(dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name))
    return steps


def _tables_read(graph: Any, step: _Step) -> set[str]:
    """The tables the step's assets take as inputs, or those its checks read (checked and deps)."""
    # An asset's own checks (e.g. `contract`) come with its materialisation: its inputs stand.
    nodes = [graph.get(a) for a in step.assets] or [graph.get(c) for c in step.checks]
    return {table_name(k) for node in nodes for k in node.parent_entity_keys}


def _what(step_key: str, step: _Step) -> str:
    """The assets a step wrote; for a step of checks, `check <step>` (its checks may all have been
    skipped, with no evaluation to name them)."""
    if step.assets:
        return ", ".join(sorted({a.to_user_string() for a in step.assets}))
    if step.checks or step_key.endswith(CHECKS_STEP):
        return f"check {step_key}"
    return step_key


class _RowCounts:
    """Rows of table versions, from the Delta logs, each looked up once."""

    def __init__(self, store: DeltaStore, snapshot: RunSnapshot | None) -> None:
        self.store, self.snapshot = store, snapshot
        self._rows: dict[tuple[str, int | None], int] = {}

    def pinned(self, name: str) -> int:
        """Rows of the table at the version the run read (its own newest write, else from before it)."""
        return self.at(name, self.store.pin(name.split("/"), self.snapshot).version)

    def at(self, name: str, version: int | None) -> int:
        if version is None:
            return 0
        if (name, version) not in self._rows:
            self._rows[name, version] = delta_tables.row_count(self.store.uri(name.split("/")), version)
        return self._rows[name, version]
