"""Building the lakehouse through Dagster: `run` everything, `backfill` days, `bench` a build."""

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lakehouse.cli.context import DAYS, SCALE, SEED, Project, or_exit, pass_project, scale_option, seed_option
from lakehouse.operations.benchmark_chart import RESULTS_FILE

if TYPE_CHECKING:
    import dagster as dg


@click.command()
@scale_option("Scale factor if sources are generated.")
@seed_option("Seed if sources are generated.")
@click.option(
    "--select",
    "selection",
    default=None,
    metavar="SELECTION",
    help="Only these assets, in Dagster's selection syntax: 'group:raw', 'key:curated/fact_payments+' "
    "(and what it feeds), 'tag:pii'.  [default: every asset]",
)
@pass_project
def run(project: Project, scale: float, seed: int, selection: str | None) -> None:
    """Build every asset through Dagster (generating the sources first if needed), then summarise.

    Safe to run again: extraction is incremental and every write idempotent, so nothing doubles.
    Runs may overlap (here, in the UI, from sensors): two steps never write one table at once.
    With LAKEHOUSE_SIMULATOR=off nothing is generated and only the declared sources are built
    (--scale and --seed do not apply).
    """
    from lakehouse.definitions import build_definitions

    project.check_instance()  # first: a deployment fault stops the command before it does anything
    settings = project.settings
    if settings.simulator:
        _simulated_sources(project, scale, seed)
        header = "building the lakehouse (raw -> refined -> curated) …"
    else:
        header = "LAKEHOUSE_SIMULATOR=off: building the declared sources only (nothing is generated) …"
    if settings.uses_development_pii_key:
        click.echo(
            "note: emails are pseudonymised with the development key; set LAKEHOUSE_PII_KEY in production"
        )
    defs = build_definitions(settings)
    if selection is None:
        _build(project, defs, header)
    else:
        _build(project, defs, f"building {selection} …", _selected(defs, selection))


def _simulated_sources(project: Project, scale: float, seed: int) -> None:
    """Generate the simulated sources unless there are some; those there must be of `scale`, `seed`."""
    from lakehouse import simulator

    settings = project.settings
    if not settings.manifest_path.is_file():
        if project.has_tables:
            raise click.ClickException(
                f"{settings.tables_uri} holds tables but their sources are gone. "
                "Run `make clean` to start over."
            )
        simulator.generate(
            settings.sources_dir, scale=scale, seed=seed, progress=click.echo, **project.source_systems
        )
    existing = simulator.read_params(settings.sources_dir)
    if (existing.scale, existing.seed) != (scale, seed):
        raise click.ClickException(
            f"{settings.data_dir} holds a build of scale {existing.scale}, seed {existing.seed}; "
            f"asked for scale {scale}, seed {seed}. Run `make clean` first to start over."
        )


def _selected(defs: "dg.Definitions", selection: str) -> "list[dg.AssetKey]":
    """The assets a selection string names, with the rest of any multi-asset they belong to, and the
    serving catalog, so that what the run wrote is queryable when it ends."""
    import dagster as dg

    from lakehouse.defs.serving.catalog import CATALOG

    graph = defs.resolve_asset_graph()
    try:
        keys = dg.AssetSelection.from_string(selection).required_multi_asset_neighbors().resolve(graph)
    except Exception as error:  # Dagster raises several types for a malformed or unknown selection
        raise click.BadParameter(f"{selection!r}: {error}", param_hint="--select") from error
    if not keys:
        raise click.BadParameter(
            f"{selection!r} selects no asset (see `lakehouse tables` for their names)", param_hint="--select"
        )
    return sorted(keys | {CATALOG})


@click.command()
@click.option(
    "--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day, e.g. 2025-03-01."
)
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day (included).")
@click.option(
    "--asset",
    "assets",
    multiple=True,
    help="Only this day-partitioned asset, e.g. curated/fact_payments (repeatable; default: all of them).",
)
@click.option(
    "--runs",
    default=1,
    show_default=True,
    type=click.IntRange(1, 12),
    help="Split the days into this many runs going at once (a process each), then build the marts once.",
)
@click.option(
    "--days-only", is_flag=True, hidden=True, help="Only the day-partitioned assets (one of --runs)."
)
@pass_project
def backfill(project: Project, first, last, assets: tuple[str, ...], runs: int, days_only: bool) -> None:
    """Rebuild the days FROM..TO of the day-partitioned facts from refined, in one run.

    Each fact's slices of those days are replaced (the same as the UI's partition backfill), and
    the marts built on them take the rebuilt days in. Refined is not re-extracted: run `lakehouse
    run` first for new source data.

    \b
    With --runs N, the days are split into N ranges rebuilt by N runs at once (their output lines
    prefixed with their range); runs writing different days of one fact commit side by side.
    Then one run builds what depends on the facts.
    """
    import dagster as dg

    from lakehouse.definitions import build_definitions
    from lakehouse.lib.partitions import range_tags

    defs = build_definitions(project.settings)
    graph = defs.resolve_asset_graph()
    partitioned = sorted(node.key.to_user_string() for node in graph.asset_nodes if node.partitions_def)
    unknown = sorted(set(assets) - set(partitioned))
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: not one of {', '.join(partitioned)}", param_hint="--asset"
        )
    days = next(node.partitions_def for node in graph.asset_nodes if node.partitions_def)
    tags = or_exit(lambda: range_tags(first.date(), last.date(), days))
    facts = {dg.AssetKey.from_user_string(a) for a in assets or partitioned}
    dependents = dg.AssetSelection.assets(*facts).downstream().resolve(graph)
    header = f"backfilling {first:%Y-%m-%d}..{last:%Y-%m-%d} of {', '.join(assets or partitioned)} …"
    if runs == 1:
        _build(project, defs, header, sorted(facts if days_only else dependents), tags)
        return
    click.echo(f"{header} in {runs} runs at once")
    _split_backfill(project, split_days(first.date(), last.date(), runs), assets)
    _build(project, defs, "building what depends on the rebuilt days …", sorted(dependents - facts))


# `lakehouse backfill` in a process of its own (the `lakehouse` script may not be on the PATH).
BACKFILL = (sys.executable, "-c", "from lakehouse.cli import main; main()")


def split_days(first: date, last: date, parts: int) -> list[tuple[date, date]]:
    """`first`..`last` in at most `parts` consecutive ranges of nearly equal length."""
    days = (last - first).days + 1
    size = -(-days // parts)
    return [(first + timedelta(d), min(last, first + timedelta(d + size - 1))) for d in range(0, days, size)]


def _split_backfill(project: Project, ranges: list[tuple[date, date]], assets: tuple[str, ...]) -> None:
    """Backfill each range in a `lakehouse backfill --days-only` process of its own, all at once,
    echoing their lines prefixed with their range; fail naming the ranges whose run failed."""
    common = [
        "--data-dir",
        str(project.settings.data_dir),
        "--dagster-home",
        str(project.dagster_home),
        "backfill",
    ]
    only = [arg for asset in assets for arg in ("--asset", asset)]
    children = {
        f"{a}..{b}": subprocess.Popen(
            [*BACKFILL, *common, "--from", a.isoformat(), "--to", b.isoformat(), *only, "--days-only"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for a, b in ranges
    }
    echoes = [threading.Thread(target=_echo_lines, args=(name, child)) for name, child in children.items()]
    for echo in echoes:
        echo.start()
    for echo in echoes:
        echo.join()
    failed = [name for name, child in children.items() if child.wait() != 0]
    if failed:
        raise click.ClickException(f"the backfill of {', '.join(failed)} failed (see its lines above)")


def _echo_lines(name: str, child: subprocess.Popen) -> None:
    assert child.stdout is not None
    for line in child.stdout:
        click.echo(f"[{name}] {line.rstrip()}")


def _build(
    project: Project,
    defs: "dg.Definitions",
    header: str,
    selection: "list[dg.AssetKey] | None" = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Run the build job in the project's instance; exit 1 if it failed.

    Other runs may go on meanwhile: each table's writer takes its concurrency pool's slot in the
    instance, as the daemon's and the UI's runs do (`lakehouse.lib.pools`). The data folder's lock is
    held shared, so an erasure or a backup (which hold it alone) waits for the builds, and they for it.
    """
    from lakehouse.operations.runner import run_build, summary

    launched = _launched_job(project)
    with _run_lock(project.settings.data_dir, exclusive=False), project.instance() as instance:
        click.echo(header)
        try:
            outcome = run_build(defs, instance, click.echo, selection, tags, launched)
        except Exception:
            project.explain_instance_fault()
            raise
    click.echo(summary(project.settings, outcome))
    sys.exit(0 if outcome.success else 1)


def _launched_job(project: Project) -> "Callable[[], dg.JobDefinition] | None":
    """The build job for other processes to load, when LAKEHOUSE_EXECUTOR runs steps elsewhere (a
    Dask cluster); None: in this process. Those processes take their settings from the environment."""
    if project.settings.executor == "in_process":
        return None
    from lakehouse.definitions import build_job
    from lakehouse.settings import get_settings

    if get_settings() != project.settings:
        raise click.UsageError(
            f"LAKEHOUSE_EXECUTOR={project.settings.executor} runs steps in other processes, which read "
            "their settings from the environment: set LAKEHOUSE_DATA_DIR instead of --data-dir"
        )
    return build_job


@contextmanager
def exclusive_run(data_dir: Path) -> Iterator[None]:
    """Hold the data folder alone (an erasure, a retention pass): refused while a build holds it."""
    with _run_lock(data_dir, exclusive=True):
        yield


@contextmanager
def _run_lock(data_dir: Path, exclusive: bool) -> Iterator[None]:
    from lakehouse.lib.run_lock import FolderBusyError, holding

    try:
        with holding(data_dir, exclusive=exclusive):
            yield
    except FolderBusyError as error:
        raise click.ClickException(str(error)) from error


@click.command()
@click.option("--scale", type=SCALE, default=None, help="Scale factor (the design targets are for 1).")
@click.option("--seed", default=42, show_default=True, type=SEED, help="Random seed: same seed, same data.")
@click.option("--days", default=365, show_default=True, type=DAYS, help="Days of shop history to simulate.")
@click.option("--keep", is_flag=True, help="Keep the benchmark's data dir instead of removing it.")
@click.option(
    "--verify",
    is_flag=True,
    help="Then build the same sources from scratch: every curated table must equal the incremental build's.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results as JSON to this file.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the throw-away data dir is made.  [default: <data dir>/bench]",
)
@click.option(
    "--queries",
    is_flag=True,
    help="Instead: time analytical SQL through the built lakehouse's catalog against DuckDB native tables.",
)
@click.option(
    "--big-file",
    "big_file_mb",
    type=click.FloatRange(min=1),
    default=None,
    metavar="SIZE_MB",
    help="Instead: ingest a synthetic CSV of SIZE_MB through a declared file set, against a plain read.",
)
@click.option("--record", is_flag=True, help="Keep this run's figures as its scale's in the results file.")
@click.option(
    "--record-json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Instead of running: keep the figures of an earlier run's --json file in the results file.",
)
@click.option(
    "--chart",
    "chart_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw time and peak memory against scale from the results file into this image (.png, .svg).",
)
@click.option(
    "--results",
    "results_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=RESULTS_FILE,
    show_default=True,
    help="The recorded results, one run per scale (committed: the README quotes them).",
)
@pass_project
def bench(
    project: Project,
    scale: float | None,
    seed: int,
    days: int,
    keep: bool,
    verify: bool,
    json_path: Path | None,
    root: Path | None,
    queries: bool,
    big_file_mb: float | None,
    record: bool,
    record_json: Path | None,
    chart_path: Path | None,
    results_path: Path,
) -> None:
    """Time a full build and a one-day incremental build, layer by layer, with peak memory.

    Each layer runs through Dagster in a process of its own, in a throw-away data dir: your
    tables and run history are not touched.

    \b
    With --verify, the sources as the incremental found them are then built again from scratch in
    a data dir of their own, and every curated table is compared with the incremental build's (by
    key, bookkeeping columns aside): it fails, naming the tables and rows, if they differ.

    \b
    The figures of each scale are kept (--record, or --record-json for a saved --json run) in a
    small committed file, and --chart draws them: e.g. `lakehouse bench --scale 1 --record` then
    `lakehouse bench --chart docs/benchmark.png`.

    \b
    With --queries, the serving benchmark instead, over the lakehouse already built in the data
    dir (build it first, e.g. `make clean && SCALE=0.1 make run`): the README's example queries
    and join-heavy analytical ones, each timed through the catalog's views over Delta and against
    the same data loaded into DuckDB native tables, with their ratio.

    \b
    With --big-file SIZE_MB, the large-file benchmark instead: a synthetic settlement CSV of
    SIZE_MB ingested through the declared file set `payments` (time, CPU time and peak memory),
    against a plain `pl.read_csv` of the same file, alone and followed by one Delta write.
    """
    if big_file_mb is not None:
        _bench_big_file(project, big_file_mb, root, keep, json_path)
        return
    if queries:
        _bench_queries(project, json_path)
        return
    if record_json is not None:
        _record(results_path, json.loads(record_json.read_text()))
    elif scale is not None:
        results = _bench_run(project, scale, seed, days, keep, verify, json_path, root)
        if record:
            _record(results_path, results)
    elif chart_path is None:
        raise click.UsageError(
            "give --scale (e.g. --scale 1), --chart FILE, --record-json FILE, --queries or --big-file SIZE_MB"
        )
    if chart_path is not None:
        from lakehouse.operations import benchmark_chart

        try:
            benchmark_chart.draw(benchmark_chart.read_results(results_path), chart_path)
        except ValueError as error:
            raise click.ClickException(f"{results_path}: {error}") from error
        click.echo(f"chart of {results_path} drawn to {chart_path}")


def _bench_run(
    project: Project,
    scale: float,
    seed: int,
    days: int,
    keep: bool,
    verify: bool,
    json_path: Path | None,
    root: Path | None,
) -> dict[str, Any]:
    """Run the benchmark and report it; returns its results (`Report.to_json`)."""
    from lakehouse.benchmark import BenchmarkError, benchmark, format_report

    root = root or project.settings.data_dir / "bench"
    try:
        report = benchmark(root, scale, seed, days, keep, click.echo, verify=verify)
    except BenchmarkError as error:
        raise click.ClickException(str(error)) from error
    click.echo(format_report(report))
    results = report.to_json()
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        click.echo(f"\nresults written to {json_path}")
    if keep:
        click.echo(f"data kept in {report.data_dir}")
    if report.verification is not None and report.verification.differences:
        tables = ", ".join(report.verification.differences)
        raise click.ClickException(f"the incremental build differs from a full rebuild in {tables} (above)")
    return results


def _record(path: Path, results: dict[str, Any]) -> None:
    from lakehouse.benchmark import summary
    from lakehouse.operations.benchmark_chart import record

    kept = record(path, summary(results))
    scales = ", ".join(f"{result['scale']:g}" for result in kept)
    click.echo(f"scale {results['scale']:g} recorded in {path} (recorded scales: {scales})")


def _bench_big_file(
    project: Project, size_mb: float, root: Path | None, keep: bool, json_path: Path | None
) -> None:
    from lakehouse.operations import file_benchmark

    try:
        report = file_benchmark.run(root or project.settings.data_dir / "bench", size_mb, keep, click.echo)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error
    click.echo(file_benchmark.format_report(report))
    if json_path is not None:
        json_path.write_text(json.dumps(file_benchmark.to_json(report), indent=2))
        click.echo(f"\nresults written to {json_path}")


def _bench_queries(project: Project, json_path: Path | None) -> None:
    import dataclasses
    import json

    from lakehouse.operations import serving_benchmark
    from lakehouse.serving.resource import ServingCatalog

    catalog = project.settings.catalog_path
    if not catalog.is_file():
        raise click.ClickException(f"no catalog at {catalog}: build the lakehouse first (`lakehouse run`)")
    report = serving_benchmark.run(ServingCatalog.from_settings(project.settings), echo=click.echo)
    click.echo(serving_benchmark.format_report(report))
    if json_path is not None:
        ratios = {"total_ratio": report.total_ratio, "total_cpu_ratio": report.total_cpu_ratio}
        results = {**dataclasses.asdict(report), **ratios}
        json_path.write_text(json.dumps(results, indent=2))
        click.echo(f"\nresults written to {json_path}")


COMMANDS = (run, backfill, bench)
