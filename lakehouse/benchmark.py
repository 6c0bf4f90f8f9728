"""The benchmark: a full build and a one-day incremental build, time and peak memory per layer.

Every step (generating the sources, each layer's Dagster run, advancing the simulation) runs in a
child process of its own, so the peak memory it reports (`VmHWM`) is that step's alone. Children are
forked from a server process that has imported Dagster, Polars and the lakehouse's modules once
(`multiprocessing`'s forkserver): each would otherwise spend seconds importing them (the peak still
counts them, as in any process that runs the step). A child sends its result back at the end; the
parent adds the wall time of the whole process and the rows the step's tables hold, read from the
Delta logs. `python -m lakehouse.benchmark STEP [PARAMS]` runs one step alone.

A layer's child also reports what each Dagster step of its run cost (`operations.costs`): work
seconds, rows read, rows written and peak memory per asset (and per check), and the report ends
with the five costliest steps of each phase, so the next bottleneck is named, not guessed.

Everything happens in a throw-away data dir: children get it as `LAKEHOUSE_DATA_DIR` and a Dagster
instance kept in it (`<data dir>/dagster`), so the user's tables and run history are never touched,
while the incremental build sees the full build's history as a real deployment does (checks
judge only what was written since their last pass).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.operations.costs import StepCost, peak_rss_mb, top

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    import dagster as dg

    from lakehouse.operations.rebuild_check import Verification

Echo = Callable[[str], None]

# Each layer's Dagster run selects the assets whose key starts with one of these; refined and
# quarantine tables come out of the same multi-assets, so they are built together.
LAYERS: dict[str, tuple[str, ...]] = {
    "raw": ("raw",),
    "refined": ("refined", "quarantine"),
    "curated": ("curated",),
}
FULL, INCREMENTAL, REBUILD = "full build", "incremental", "full rebuild"

# Design targets, set for scale factor 1 (issue 11).
FULL_BUILD_SECONDS = 45.0
FULL_BUILD_PEAK_MB = 2048.0
INCREMENTAL_SECONDS = 8.0
INCREMENTAL_CURATED_SHARE = 2.0  # % of the curated rows a one-day incremental may write


class BenchmarkError(RuntimeError):
    """A step failed; its own output (shown above the error) says why."""


@dataclass(frozen=True)
class Step:
    """One measured step. `seconds` is the work itself (the simulator call or the Dagster run);
    `setup_seconds` the child's imports and Dagster instance; `wall_seconds` the whole process."""

    phase: str
    name: str
    seconds: float
    setup_seconds: float
    wall_seconds: float
    peak_mb: float
    rows: int
    rows_written: int
    tables: dict[str, int] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)
    costs: list[dict[str, Any]] = field(default_factory=list)  # a layer's steps: `StepCost`s


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    value: float

    @property
    def met(self) -> bool:
        return self.value <= self.limit


@dataclass(frozen=True)
class Report:
    scale: float
    seed: int
    days: int
    data_dir: str
    kept: bool
    steps: list[Step]
    # --verify: how the incremental build compares with a full rebuild of the same sources; None
    # when not verified
    verification: Verification | None = None

    def phases(self) -> list[str]:
        return [phase for phase in (FULL, INCREMENTAL, REBUILD) if self.phase(phase)]

    def phase(self, phase: str) -> list[Step]:
        return [s for s in self.steps if s.phase == phase]

    def costs(self, phase: str) -> list[StepCost]:
        """Every Dagster step the phase's layers ran, in order."""
        return [StepCost(**c) for s in self.layers(phase) for c in s.costs]

    def top(self, phase: str) -> list[StepCost]:
        """The phase's five costliest steps, by work seconds."""
        return top(self.costs(phase))

    def layers(self, phase: str) -> list[Step]:
        return [s for s in self.phase(phase) if s.name in LAYERS]

    def total(self, phase: str) -> Step:
        """The layers of a phase together: times and rows add up, peak memory is the highest."""
        layers = self.layers(phase)
        return Step(
            phase=phase,
            name="total",
            seconds=sum(s.seconds for s in layers),
            setup_seconds=sum(s.setup_seconds for s in layers),
            wall_seconds=sum(s.wall_seconds for s in layers),
            peak_mb=max(s.peak_mb for s in layers),
            rows=sum(s.rows for s in layers),
            rows_written=sum(s.rows_written for s in layers),
        )

    def targets(self) -> list[Target]:
        full, incremental = self.total(FULL), self.total(INCREMENTAL)
        return [
            Target(f"full build ≤ {FULL_BUILD_SECONDS:.0f} s", FULL_BUILD_SECONDS, full.seconds),
            Target(f"full build peak ≤ {FULL_BUILD_PEAK_MB:.0f} MB", FULL_BUILD_PEAK_MB, full.peak_mb),
            Target(
                f"one-day incremental ≤ {INCREMENTAL_SECONDS:.0f} s", INCREMENTAL_SECONDS, incremental.seconds
            ),
            Target(
                f"incremental writes ≤ {INCREMENTAL_CURATED_SHARE:.0f}% of curated",
                INCREMENTAL_CURATED_SHARE,
                self.curated_share_written(),
            ),
        ]

    def curated_share_written(self) -> float:
        """The rows the incremental curated run wrote, in % of the rows curated holds after it."""
        curated = next(s for s in self.phase(INCREMENTAL) if s.name == "curated")
        return 100 * curated.rows_written / max(curated.rows, 1)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average": [round(load, 1) for load in os.getloadavg()],
            "totals": {phase: asdict(self.total(phase)) for phase in self.phases()},
            "targets": [{**asdict(t), "met": t.met} for t in self.targets()],
        }


# --- the parent: run the steps, one child process each ---------------------------------------


def benchmark(
    root: Path, scale: float, seed: int, days: int, keep: bool, echo: Echo, verify: bool = False
) -> Report:
    """Run the benchmark in a fresh data dir under `root`, removed at the end unless `keep`.

    `verify`: then also rebuild the lakehouse from scratch, in a data dir of its own, over the
    sources as the incremental found them (`days` + 1 days generated at once, as the simulator is
    deterministic), and compare every curated table with the incremental build's."""
    root.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    verification = None
    try:
        echo(f"benchmark data dir: {data_dir}")
        steps = run_steps(data_dir, scale, seed, days, echo)
        if verify:
            rebuilt = data_dir / "rebuild"
            rebuilt.mkdir()
            steps += build_steps(REBUILD, rebuilt, scale, seed, days + 1, echo)
            verification = compare_builds(data_dir, rebuilt, echo)
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return Report(scale, seed, days, str(data_dir), keep, steps, verification)


def run_steps(data_dir: Path, scale: float, seed: int, days: int, echo: Echo) -> list[Step]:
    """Generate, build layer by layer, advance one day, build again layer by layer."""
    env = _child_env(data_dir)
    steps = build_steps(FULL, data_dir, scale, seed, days, echo)
    steps.append(_run_step(INCREMENTAL, "advance", {"days": 1}, env, echo))
    steps += [_run_step(INCREMENTAL, layer, {}, env, echo) for layer in LAYERS]
    return steps


def build_steps(phase: str, data_dir: Path, scale: float, seed: int, days: int, echo: Echo) -> list[Step]:
    """Generate the sources in `data_dir` and build them layer by layer."""
    env = _child_env(data_dir)
    steps = [_run_step(phase, "generate", {"scale": scale, "seed": seed, "days": days}, env, echo)]
    return steps + [_run_step(phase, layer, {}, env, echo) for layer in LAYERS]


def compare_builds(built: Path, rebuilt: Path, echo: Echo) -> Verification:
    """The curated tables where the two data dirs' lakehouses differ, and those whose only
    difference is history the sources no longer hold (`rebuild_check.verify`)."""
    echo(f"\n{REBUILD}: comparing every curated table with the incremental build's …")
    result, _ = _run_child("compare", {"built": str(built), "rebuilt": str(rebuilt)}, _child_env(built))
    from lakehouse.operations.rebuild_check import Verification

    return Verification(**result)


# Where the user's data lives, when set apart from the data dir: the children's comes from theirs.
_DATA_LOCATIONS = ("LAKEHOUSE_SHOP_DB_URI", "LAKEHOUSE_LANDING_DIR", "LAKEHOUSE_TABLES_URI")


def _child_env(data_dir: Path) -> dict[str, str]:
    """The environment of every child: this data dir, with the sources' locations derived from it."""
    env = {k: v for k, v in os.environ.items() if k not in _DATA_LOCATIONS}
    env["LAKEHOUSE_DATA_DIR"] = str(data_dir)
    return env


def _run_step(phase: str, name: str, params: dict[str, Any], env: dict[str, str], echo: Echo) -> Step:
    echo(f"\n{phase}: {name} …")
    result, wall = _run_child(name, params, env)
    if not result.pop("success"):
        raise BenchmarkError(f"{phase}: {name} failed; see its output above")
    if name in LAYERS:
        result["rows"] = sum(result["tables"].values())
    step = Step(phase=phase, name=name, wall_seconds=wall, **result)
    echo(f"  {name}: {step.seconds:.1f} s ({wall:.1f} s with process start), peak {step.peak_mb:,.0f} MB")
    return step


# What the forkserver imports once, before it forks the steps' children: besides Dagster, Polars and
# the lakehouse, the libraries Dagster loads only when an on-disk instance first opens (its SQLite
# storage, migrations and logging), which every layer's child would otherwise import again: ~1.1 s of
# CPU a child (0.45 s of setup left, from 1.6 s). A name that does not import is skipped.
PRELOADED = [
    "dagster",
    "polars",
    "deltalake",
    "lakehouse.definitions",
    "lakehouse.operations.runner",
    "lakehouse.operations.run_costs",
    "sqlalchemy",
    "alembic",
    "alembic.runtime.migration",
    "structlog",
    "rich",
    "pygments",
    "jinja2",
    "mako",
    # pandera's Polars backends, imported by the first validation of a layer (hypothesis with them,
    # where installed: ~0.13 s of CPU the first refine step and dim_customer were charged)
    "pandera.backends.polars.builtin_checks",
    "pandera.backends.polars.checks",
    "pandera.backends.polars.components",
    "pandera.backends.polars.container",
]


def _run_child(name: str, params: dict[str, Any], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """The child's result and its wall time; its output (progress, logs) goes to our stderr."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)
    receiving, sending = context.Pipe(duplex=False)
    started = time.perf_counter()
    child = context.Process(target=_child, args=(name, params, env, sending), name=f"benchmark {name}")
    child.start()
    sending.close()  # the child holds the only sending end: its exit ends the pipe
    try:
        result = receiving.recv()
    except EOFError:
        result = None
    child.join()
    wall = time.perf_counter() - started
    if child.exitcode != 0 or result is None:
        raise BenchmarkError(f"{name} failed (exit code {child.exitcode}); see its output above")
    return result, wall


def layer_rows(tables_uri: str, tables: list[str]) -> dict[str, int]:
    """Rows of these Delta tables (`raw/orders`, …) under `tables_uri` (a folder or an object
    store's prefix), from the Delta logs (no data file is read)."""
    from lakehouse.lib.storage import location
    from lakehouse.lib.storage.delta_tables import add_actions, exists, file_stats

    uris = {table: location.join(tables_uri, *table.split("/")) for table in sorted(tables)}
    return {table: file_stats(add_actions(uri))["rows"] for table, uri in uris.items() if exists(uri)}


# --- the report ---------------------------------------------------------------------------------

_ROW = "{:<13}{:<22}{:>12}{:>12}{:>9}{:>9}{:>9}{:>9}"
_STEP_NAMES = {
    "generate": "generate sources",
    "advance": "advance 1 day",
    "refined": "refined+quarantine",
    "total": "total (3 layers)",
}


def format_report(report: Report) -> str:
    lines = [
        f"\nbenchmark: scale {report.scale}, seed {report.seed}, {report.days} days",
        "  work s: the simulator call or the Dagster run; setup s: imports and Dagster instance;",
        "  wall s: the whole child process; rows: what the step's tables hold afterwards\n",
        _ROW.format("phase", "step", "rows", "written", "work s", "setup s", "wall s", "peak MB"),
    ]
    for phase in report.phases():
        for step in [*report.phase(phase), report.total(phase)]:
            lines.append(_format_step(step))
        lines.append("")
    for phase in (FULL, INCREMENTAL):
        lines += [*format_costs(report, phase), ""]
    for phase in (FULL, INCREMENTAL):
        lines += [f"top five costs, {phase}:", *(_format_cost(c) for c in report.top(phase)), ""]
    if report.verification is not None:
        lines += [_format_verification(report.verification), ""]
    lines.append("design targets (set for scale 1):")
    for target in report.targets():
        lines.append(f"  {'✓' if target.met else '✗'} {target.name:<32}{target.value:>10,.1f}")
    failed = [f"{s.phase} {s.name}: {c}" for s in report.steps for c in s.failed_checks]
    lines += ["", f"failed checks: {', '.join(failed) if failed else 'none'}"]
    return "\n".join(lines)


def _format_verification(verification: Verification) -> str:
    differences, explained = verification.differences, verification.explained
    told = ""
    if explained:
        lines = "\n".join(f"  {text}" for text in explained.values())
        told = f"\n  but for history the sources no longer hold, which a rebuild cannot see:\n{lines}"
    if not differences:
        return f"✓ the incremental build equals a full rebuild of the same sources: every curated table{told}"
    found = "\n".join(differences.values())
    tables = f"{len(differences)} curated table(s)"
    return f"✗ the incremental build differs from a full rebuild in {tables}:\n{found}{told}"


def _format_step(step: Step) -> str:
    return _ROW.format(
        step.phase if step.name in ("generate", "advance") else "",
        _STEP_NAMES.get(step.name, step.name),
        f"{step.rows:,}",
        f"{step.rows_written:,}",
        f"{step.seconds:.1f}",
        f"{step.setup_seconds:.1f}",
        f"{step.wall_seconds:.1f}",
        f"{step.peak_mb:,.0f}",
    )


_COST = "  {:<52}{:>8}{:>13}{:>12}{:>9}"


def format_costs(report: Report, phase: str) -> list[str]:
    """Per asset of the phase: work seconds, rows read, rows written, peak MB; checks summed up."""
    costs = report.costs(phase)
    assets = [c for c in costs if not c.what.startswith("check ")]
    checks = [c for c in costs if c.what.startswith("check ")]
    lines = [
        f"{phase}, per asset (rows read: rows of the table versions the step read, before pushdown):",
        _COST.format("asset", "work s", "rows read", "written", "peak MB"),
        *(_format_cost(c) for c in assets),
    ]
    if checks:
        seconds = sum(c.seconds for c in checks)
        peak = max(c.peak_mb for c in checks)
        lines.append(_COST.format(f"{len(checks)} check steps", f"{seconds:.1f}", "", "", f"{peak:,.0f}"))
    return lines


def _format_cost(cost: StepCost) -> str:
    what = cost.what if len(cost.what) <= 50 else cost.what[:49] + "…"
    return _COST.format(
        what, f"{cost.seconds:.2f}", f"{cost.rows_read:,}", f"{cost.rows_written:,}", f"{cost.peak_mb:,.0f}"
    )


def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n")


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """What `benchmark_chart.record` keeps of a run (`Report.to_json`): per phase its work
    seconds and peak memory, the layers' seconds, and the machine's load (times are noisy under it)."""
    steps = {(step["phase"], step["name"]): step for step in results["steps"]}

    def phase(name: str) -> dict[str, Any]:
        total = results["totals"][name]
        layers = {layer: round(steps[name, layer]["seconds"], 1) for layer in LAYERS}
        return {"seconds": round(total["seconds"], 1), "peak_mb": round(total["peak_mb"]), "layers": layers}

    def simulator(step: dict[str, Any]) -> dict[str, Any]:
        return {"seconds": round(step["seconds"], 1), "peak_mb": round(step["peak_mb"])}

    return {
        "scale": results["scale"],
        "days": results["days"],
        "seed": results["seed"],
        "recorded": results.get("finished", ""),
        "load_average": results.get("load_average"),
        "generate": simulator(steps[FULL, "generate"]),
        "full": phase(FULL),
        "advance": simulator(steps[INCREMENTAL, "advance"]),
        "incremental": phase(INCREMENTAL),
        "targets": {t["name"]: {"value": round(t["value"], 1), "met": t["met"]} for t in results["targets"]},
    }


# --- the children: one step each, one JSON line on stdout at the end ---------------------------


def _progress(line: str) -> None:
    """Children's progress goes to stderr, shown as it comes; stdout carries the result only."""
    print(line if line.startswith(" ") else f"  {line}", file=sys.stderr, flush=True)


def _generate(scale: float, seed: int, days: int) -> dict[str, Any]:
    started = time.perf_counter()
    from lakehouse import simulator
    from lakehouse.settings import get_settings

    imported = time.perf_counter()
    manifest = simulator.generate(
        get_settings().sources_dir, scale=scale, seed=seed, days=days, progress=_progress
    )
    finished = time.perf_counter()
    rows = sum(manifest["source_rows"].values())
    return _result(started, imported, finished, rows=rows, rows_written=rows)


def _advance(days: int) -> dict[str, Any]:
    """Source rows after advancing; written = how many rows the sources grew by."""
    started = time.perf_counter()
    import adbc_driver_sqlite.dbapi  # noqa: F401  the driver's imports (pyarrow, pandas): setup, not work

    from lakehouse import simulator
    from lakehouse.settings import get_settings

    imported = time.perf_counter()
    settings = get_settings()
    before = sum(json.loads(settings.manifest_path.read_text())["source_rows"].values())
    manifest = simulator.advance(settings.sources_dir, days, progress=_progress)
    finished = time.perf_counter()
    rows = sum(manifest["source_rows"].values())
    return _result(started, imported, finished, rows=rows, rows_written=rows - before)


def _build_layer(layer: str) -> dict[str, Any]:
    """One layer's assets and their checks, run the way `lakehouse run` runs them."""
    started = time.perf_counter()
    import dagster as dg

    from lakehouse.definitions import default_definitions
    from lakehouse.lib.storage.store import DeltaStore
    from lakehouse.operations.costs import MemorySampler
    from lakehouse.operations.run_costs import step_costs
    from lakehouse.operations.runner import run_build
    from lakehouse.settings import get_settings

    defs, settings = default_definitions(), get_settings()

    with dg.DagsterInstance.local_temp(str(_instance_home(settings.data_dir))) as instance:
        ready = time.perf_counter()
        selection = layer_selection(defs, layer)
        with MemorySampler() as sampler:
            outcome = run_build(defs, instance, _progress, selection=selection)
        finished = time.perf_counter()
        costs = step_costs(instance, outcome.run_id, defs, DeltaStore(root=settings.tables_uri), sampler)
        selected = [key.to_user_string() for key in selection]
        return _result(
            started,
            ready,
            finished,
            success=outcome.success,
            rows_written=_rows_written(instance, outcome.run_id),
            failed_checks=[f"{c.asset}:{c.check}" for c in outcome.checks if not c.passed],
            tables=layer_rows(settings.tables_uri, selected),
            costs=[asdict(c) for c in costs],
        )


def layer_selection(defs: dg.Definitions, layer: str) -> list[dg.AssetKey]:
    """The layer's assets, with the other outputs of the multi-assets that write them (an ingestion
    writes its raw table and `quarantine/<source>_files`), each in the first layer that needs it."""
    import dagster as dg

    graph = defs.resolve_asset_graph()
    taken: set[dg.AssetKey] = set()
    for name, prefixes in LAYERS.items():
        own = [k for k in graph.get_all_asset_keys() if k.path[0] in prefixes and k not in taken]
        keys = set(dg.AssetSelection.assets(*own).required_multi_asset_neighbors().resolve(graph)) - taken
        if name == layer:
            return sorted(keys, key=lambda k: k.path)
        taken |= keys
    raise ValueError(f"no layer {layer!r}: one of {', '.join(LAYERS)}")


# The steps' instance: run history on disk, shared by the steps; no captured step logs (a process
# per step, as the ephemeral instance the benchmark used before, and time not spent on the work).
_INSTANCE_CONFIG = """\
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
telemetry:
  enabled: false
"""


def _instance_home(data_dir: Path) -> Path:
    home = data_dir / "dagster"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(_INSTANCE_CONFIG)
    return home


def _rows_written(instance: dg.DagsterInstance, run_id: str) -> int:
    """Rows the IO manager wrote in the run, from its materialisations' `rows_written`."""
    from dagster import DagsterEventType

    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    return sum(
        int(r.event_log_entry.asset_materialization.metadata["rows_written"].value)
        for r in records
        if "rows_written" in r.event_log_entry.asset_materialization.metadata
    )


def _result(started: float, ready: float, finished: float, **values: Any) -> dict[str, Any]:
    """Setup is start to ready (imports, instance), the work ready to finished."""
    return {
        "success": True,
        "rows": 0,
        **values,
        "seconds": finished - ready,
        "setup_seconds": ready - started,
        "peak_mb": peak_rss_mb(),
    }


def _compare(built: str, rebuilt: str) -> dict[str, Any]:
    from lakehouse.operations.rebuild_check import verify
    from lakehouse.settings import get_settings

    tables = [get_settings(data_dir).tables_uri for data_dir in (built, rebuilt)]
    if tables[0] == tables[1]:
        raise BenchmarkError(f"the incremental build and the rebuild are the same tables ({tables[0]})")
    return asdict(verify(*tables))


def _step(step: str, params: dict[str, Any]) -> dict[str, Any]:
    if step == "generate":
        return _generate(**params)
    if step == "advance":
        return _advance(**params)
    if step == "compare":
        return _compare(**params)
    return _build_layer(step)


def _child(step: str, params: dict[str, Any], env: dict[str, str], results: Connection) -> None:
    """A forked child: the step in the environment the parent gave (the forkserver's is older)."""
    os.environ.clear()  # forked child: its own environment
    os.environ.update(env)  # forked child: its own environment
    results.send(_step(step, params))
    results.close()


def _child_main(argv: list[str]) -> None:
    step, params = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    print(json.dumps(_step(step, params)), flush=True)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
