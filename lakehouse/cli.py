"""The `lakehouse` command line: generate sources, run the build, query the catalog."""

import fcntl
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from lakehouse.settings import PROJECT_ROOT, get_settings

FORMATS = click.Choice(["table", "csv", "json"])
OUTCOME_MARKS = {"passed": "✓", "warning": "!", "failed": "✗"}


def _use_project_instance() -> None:
    """Runs go to the project's Dagster instance (dagster.yaml's paths are relative to the root).

    The settings are pinned as absolute paths first, so a relative `LAKEHOUSE_DATA_DIR` means the
    same folder before and after the change of directory.
    """
    settings = get_settings()
    os.environ["LAKEHOUSE_DATA_DIR"] = str(settings.data_dir)
    os.environ["LAKEHOUSE_LANDING_DIR"] = str(settings.landing_dir.resolve())
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT))
    os.chdir(os.environ["DAGSTER_HOME"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """lakehouse: simulated shop sources -> raw -> refined -> curated Delta tables, served by DuckDB.

    \b
    Start here:
      lakehouse run                      generate the sources and build everything
      lakehouse tables                   what can be queried
      lakehouse sql "select ..."         ask the catalog (read-only)
    """


SCALE = click.FloatRange(min=0, min_open=True)
DAYS = click.IntRange(min=1)


def _has_tables(settings) -> bool:
    return any(settings.tables_dir.glob("*/*/_delta_log"))


@main.command()
@click.option("--scale", default=0.01, show_default=True, type=SCALE, help="1 = 100k customers, 1M orders.")
@click.option(
    "--seed", default=42, show_default=True, type=click.IntRange(min=0), help="Same seed, same data."
)
@click.option("--days", default=365, show_default=True, type=DAYS, help="Days of shop history to simulate.")
@click.option(
    "--advance", "advance_days", type=DAYS, default=None, help="Append N more days to the simulation."
)
@click.option(
    "--force", is_flag=True, help="Regenerate even though tables were built from the current sources."
)
def generate(scale: float, seed: int, days: int, advance_days: int | None, force: bool) -> None:
    """Write the simulated source systems (shop database, landing files) and their ground truth."""
    from lakehouse import simulator

    settings = get_settings()
    out = settings.sources_dir
    if advance_days is not None:
        if not settings.manifest_path.is_file():
            raise click.ClickException(f"no simulation in {out} to advance: run `lakehouse generate` first")
        manifest = simulator.advance(out, advance_days, progress=click.echo, db_uri=settings.shop_db_uri)
    else:
        if _has_tables(settings) and not force:
            raise click.ClickException(
                f"{settings.tables_dir} holds tables built from the current sources; new sources would be "
                "mixed into them. Run `make clean` first (or pass --force if you mean it)."
            )
        manifest = simulator.generate(
            out, scale=scale, seed=seed, days=days, progress=click.echo, db_uri=settings.shop_db_uri
        )
    rows = ", ".join(f"{table} {count:,}" for table, count in manifest["source_rows"].items())
    click.echo(f"sources in {out}: {rows}")


@main.command()
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between two advances.",
)
@click.option("--days", "days_per_tick", default=1, show_default=True, type=DAYS, help="Days per advance.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the exchange-rate API (0: any free port).",
)
@click.option(
    "--scale", default=0.01, show_default=True, type=SCALE, help="Scale factor if sources are generated."
)
@click.option(
    "--seed", default=42, show_default=True, type=click.IntRange(min=0), help="Seed if sources are generated."
)
def simulate(interval: float, days_per_tick: int, port: int, scale: float, seed: int) -> None:
    """Keep the source systems alive until Ctrl-C: advance the shop every few seconds, serve the API.

    \b
    Each advance appends the next day(s): new orders and status changes in the shop database, new
    payment files, new clickstream micro-batches. The exchange-rate API answers meanwhile at
    http://127.0.0.1:PORT/v1/rates. Ctrl-C (or SIGTERM) stops between two writes.
    """
    from lakehouse import simulator
    from lakehouse.simulator.exchange_api import ExchangeRateServer

    settings = get_settings()
    out = settings.sources_dir
    if not settings.manifest_path.is_file():
        simulator.generate(out, scale=scale, seed=seed, progress=click.echo, db_uri=settings.shop_db_uri)
    params = simulator.read_params(out)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as cleanly as on Ctrl-C
    ticks = 0
    with ExchangeRateServer(port=port, seed=params.seed) as server:
        click.echo(f"exchange-rate API at {server.base_url}/v1/rates")
        click.echo(f"advancing {out} by {days_per_tick} day(s) every {interval:g} s; Ctrl-C stops")
        try:
            while True:
                time.sleep(interval)
                before = _source_counts(out)
                manifest = simulator.advance(out, days_per_tick, db_uri=settings.shop_db_uri)
                ticks += 1
                click.echo(_advance_line(manifest, before, _source_counts(out)))
        except KeyboardInterrupt:
            pass
    days = simulator.read_params(out).days
    click.echo(f"stopped after {ticks} advance(s); the simulation holds {days} days")


def _source_counts(out: Path) -> dict[str, int]:
    """What the landing zone and the manifest hold: the base of each progress line."""
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "orders": manifest["source_rows"]["orders"],
        "payment files": len(list(out.glob("landing/payments/settlement_*.csv"))),
        "inventory snapshots": manifest["inventory"]["files"],
        "clickstream batches": manifest["clickstream"]["batches"],
        "events": manifest["clickstream"]["lines"],
    }


def _advance_line(manifest: dict, before: dict[str, int], after: dict[str, int]) -> str:
    added = ", ".join(f"+{after[name] - before[name]:,} {name}" for name in after)
    return f"{time.strftime('%H:%M:%S')} day {manifest['days']}: {added}"


@main.command()
@click.option(
    "--scale", default=0.01, show_default=True, type=SCALE, help="Scale factor if sources are generated."
)
@click.option(
    "--seed", default=42, show_default=True, type=click.IntRange(min=0), help="Seed if sources are generated."
)
def run(scale: float, seed: int) -> None:
    """Build every asset through Dagster (generating the sources first if needed), then summarise.

    Safe to run again: extraction is incremental and every write idempotent, so nothing doubles.
    Only one `lakehouse run` at a time per data folder.
    """
    from lakehouse import simulator

    settings = get_settings()
    if not settings.manifest_path.is_file():
        if _has_tables(settings):
            raise click.ClickException(
                f"{settings.tables_dir} holds tables but their sources are gone. "
                "Run `make clean` to start over."
            )
        simulator.generate(
            settings.sources_dir, scale=scale, seed=seed, progress=click.echo, db_uri=settings.shop_db_uri
        )
    existing = simulator.read_params(settings.sources_dir)
    if (existing.scale, existing.seed) != (scale, seed):
        raise click.ClickException(
            f"{settings.data_dir} holds a build of scale {existing.scale}, seed {existing.seed}; "
            f"asked for scale {scale}, seed {seed}. Run `make clean` first to start over."
        )
    if settings.uses_development_pii_key:
        click.echo(
            "note: emails are pseudonymised with the development key; set LAKEHOUSE_PII_KEY in production"
        )
    _use_project_instance()
    import dagster as dg

    from lakehouse.definitions import build_definitions
    from lakehouse.operations.runner import run_build, summary

    defs = build_definitions(get_settings())
    with _exclusive_run(settings.data_dir / ".run.lock"), dg.DagsterInstance.get() as instance:
        click.echo("building the lakehouse (raw -> refined -> curated) …")
        outcome = run_build(defs, instance, click.echo)
    click.echo(summary(settings, outcome))
    sys.exit(0 if outcome.success else 1)


@main.command()
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
def backfill(first, last, assets: tuple[str, ...]) -> None:
    """Rebuild the days FROM..TO of the day-partitioned facts from refined, in one run.

    Each fact's slices of those days are replaced (the same as the UI's partition backfill), and
    the marts built on them take the rebuilt days in. Refined is not re-extracted: run `lakehouse
    run` first for new source data.
    """
    _use_project_instance()
    import dagster as dg

    from lakehouse.definitions import build_definitions
    from lakehouse.lib.partitions import range_tags
    from lakehouse.operations.runner import run_build, summary

    settings = get_settings()
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    partitioned = sorted(node.key.to_user_string() for node in graph.asset_nodes if node.partitions_def)
    unknown = sorted(set(assets) - set(partitioned))
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: not one of {', '.join(partitioned)}", param_hint="--asset"
        )
    tags = _or_exit(lambda: range_tags(first.date(), last.date()))
    backfilled = dg.AssetSelection.assets(*(dg.AssetKey.from_user_string(a) for a in assets or partitioned))
    selection = list(backfilled.downstream().resolve(graph))
    with _exclusive_run(settings.data_dir / ".run.lock"), dg.DagsterInstance.get() as instance:
        click.echo(f"backfilling {first:%Y-%m-%d}..{last:%Y-%m-%d} of {', '.join(assets or partitioned)} …")
        outcome = run_build(defs, instance, click.echo, selection, tags)
    click.echo(summary(settings, outcome))
    sys.exit(0 if outcome.success else 1)


@contextmanager
def _exclusive_run(lock_path: Path) -> Iterator[None]:
    """Refuse a second concurrent build: two runs would read the same watermarks."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise click.ClickException(
                "another `lakehouse run` is building this data folder; wait for it"
            ) from error
        yield


@main.command()
@click.argument("query", required=False)
@click.option(
    "-f",
    "--file",
    "query_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the query from a file.",
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A named parameter, used in the query as $NAME (text: DuckDB casts it where compared).",
)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
@click.option(
    "--max-rows",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows shown in table format.",
)
def sql(query: str | None, query_file: Path | None, params: tuple[str, ...], fmt: str, max_rows: int) -> None:
    """Run read-only SQL against the catalog.

    \b
    Examples:
      lakehouse sql "select count(*) from curated.fact_order_items"
      lakehouse sql --file lakehouse/serving/queries/top_products.sql --param category=toys
    """
    from lakehouse.serving.query import format_result, run_query

    if query is None and query_file is None:
        raise click.UsageError(
            'give a query, e.g. lakehouse sql "select * from curated.dim_date limit 5", or --file'
        )
    if query is not None and query_file is not None:
        raise click.UsageError("give a query or --file, not both")
    text = query if query is not None else query_file.read_text()
    if not text.strip():
        raise click.UsageError("the query is empty")
    named = _named(params) or None
    try:
        result = run_query(get_settings().catalog_path, text, named)
    except Exception as error:  # DuckDB errors are already readable; show them without a traceback
        hint = "\nTables are named layer.table (e.g. curated.fact_order_items): see `lakehouse tables`."
        raise click.ClickException(str(error) + (hint if "does not exist" in str(error) else "")) from error
    rendered = format_result(result, fmt, max_rows)
    click.echo(rendered, nl=not rendered.endswith("\n"))  # CSV already ends its last line


def _named(params: tuple[str, ...]) -> dict[str, str]:
    """`NAME=VALUE` options as a dict; a clear usage error for anything else."""
    named = {}
    for param in params:
        name, sep, value = param.partition("=")
        if not sep or not name.strip().isidentifier():
            raise click.UsageError(f"--param {param!r}: expected NAME=VALUE, e.g. --param day=2025-03-01")
        named[name.strip()] = value
    return named


@main.command()
@click.option("--describe", is_flag=True, help="Also print each table's and column's description.")
def tables(describe: bool) -> None:
    """List every queryable table: schema (layer), name, columns, rows, Delta version."""
    from lakehouse.serving.query import describe_tables, list_tables

    try:
        infos = list_tables(get_settings().catalog_path)
        described = (
            {(d.schema, d.table): d for d in describe_tables(get_settings().catalog_path)} if describe else {}
        )
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{'table':<36}{'columns':>8}{'rows':>12}{'version':>9}")
    for t in infos:
        click.echo(f"{t.schema + '.' + t.table:<36}{t.columns:>8}{t.rows or 0:>12,}{t.version:>9}")
        if (doc := described.get((t.schema, t.table))) is not None:
            _echo_description(doc)


def _echo_description(doc) -> None:
    if doc.comment:
        click.echo(f"    {doc.comment}")
    for column in doc.columns:
        click.echo(f"    {column.name:<28}{column.type:<26}{column.comment or ''}".rstrip())
    click.echo("")


@main.command()
def dictionary() -> None:
    """Write the curated layer's data dictionary (Markdown) from the table contracts."""
    from lakehouse.defs.curated.dictionary import write_dictionary

    click.echo(f"wrote {write_dictionary()}")


@main.command()
@click.argument("table")
@click.option("--limit", default=20, show_default=True, help="Newest commits shown.")
def history(table: str, limit: int) -> None:
    """Show a table's change history (e.g. `lakehouse history refined.orders`): who wrote what, when."""
    from lakehouse.lib.storage.history import history as table_history

    commits = _or_exit(lambda: table_history(get_settings().tables_dir, table, limit))
    click.echo(f"{'version':>7}  {'at (UTC)':<19}  {'operation':<9}  {'mode':<19}  {'rows +/-':>15}  run")
    for c in commits:
        added = c.metrics.get("num_added_rows", c.metrics.get("num_target_rows_inserted", 0))
        removed = c.metrics.get("num_deleted_rows", c.metrics.get("num_target_rows_deleted", 0))
        click.echo(
            f"{c.version:>7}  {c.at:%Y-%m-%d %H:%M:%S}  {c.operation:<9}  {c.write_mode:<19}  "
            f"{f'+{added}/-{removed}':>15}  {c.run_id}"
        )


@main.command()
@click.argument("table")
@click.option("--version", "version", type=int, default=None, help="Table version (default: current).")
def lineage(table: str, version: int | None) -> None:
    """Which run wrote a table version, from which input versions (down to raw), with which checks."""
    from lakehouse.lib.storage.history import lineage as table_lineage

    tree = _or_exit(lambda: table_lineage(get_settings().tables_dir, table, version))
    _echo_lineage(tree, depth=0)
    if tree.commit.run_id:
        _echo_checks(tree.commit.run_id, tree.commit.table.replace("/", "."))


def _echo_lineage(node, depth: int) -> None:
    c = node.commit
    click.echo(
        f"{'  ' * depth}{c.table} v{c.version}  {c.operation} ({c.write_mode or '-'})  run {c.run_id or '-'}"
    )
    for child in node.inputs:
        _echo_lineage(child, depth + 1)


def _echo_checks(run_id: str, table: str) -> None:
    """The asset checks of `table` evaluated in run `run_id`, as the Dagster instance recorded them."""
    import polars as pl

    from lakehouse.operations.report import check_results

    with _project_instance() as instance:
        checks = check_results(instance, [run_id]).filter(pl.col("table") == table)
    if not checks.is_empty():
        click.echo("\nchecks in that run:")
    for name, outcome in checks.select("check", "outcome").iter_rows():
        click.echo(f"  {OUTCOME_MARKS[outcome]} {name}" + ("" if outcome == "passed" else f" ({outcome})"))


@contextmanager
def _project_instance() -> Iterator:
    """The project's Dagster instance (`DAGSTER_HOME`), where `lakehouse run` and the UI record runs."""
    _use_project_instance()
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        yield instance


@main.command()
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the HTML file.  [default: <data dir>/reports/quality.html]",
)
@click.option(
    "--runs",
    default=30,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many of the newest runs the trends cover.",
)
def report(output: Path | None, runs: int) -> None:
    """Write the data-quality report: one HTML file with charts that opens offline.

    \b
    It answers "is my data OK?" (each table, the newest check outcomes, failing first) and shows
    the trends over the newest runs: checks passed and failed per run, quarantine by table and
    rule, anomalies flagged with their expected range, freshness per asset against its policy,
    and each table's rows and null rates.
    """
    from lakehouse.operations import report_html
    from lakehouse.operations.report import gather, summary_line

    settings = get_settings()
    path = (output or settings.data_dir / "reports" / "quality.html").resolve()  # before the chdir
    with _project_instance() as instance:
        from lakehouse.definitions import build_definitions

        data = gather(settings.tables_dir, instance, build_definitions(settings), runs)
    report_html.write(data, path)
    click.echo(summary_line(data))
    click.echo(f"report written to {path}")


@main.command()
@click.argument("table")
@click.option("--version", "version", type=int, required=True, help="The version to roll back to.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(table: str, version: int, yes: bool) -> None:
    """Roll a table back to an earlier version (a new commit; audited; history is kept).

    Tables downstream are not rolled back: rebuild them (`make run`) or restore them too.
    """
    from lakehouse.lib.storage.history import restore as restore_table
    from lakehouse.serving.catalog import publish_catalog

    settings = get_settings()
    if not yes:
        click.confirm(f"Roll {table} back to version {version}?", abort=True)
    restored = _or_exit(lambda: restore_table(settings.tables_dir, table, version))
    publish_catalog(settings.tables_dir, settings.catalog_path)
    click.echo(f"{table} is now version {restored.version}, with the content of version {version}")


@main.command()
@click.option(
    "--retention-hours",
    default=7 * 24,
    show_default=True,
    type=click.IntRange(min=0),
    help="Keep files unreferenced for less than this (older catalogs and time travel need them).",
)
def maintain(retention_hours: int) -> None:
    """Compact small files and vacuum old ones in every table (audited), then republish the catalog."""
    from lakehouse.lib.storage.maintenance import maintain as maintain_tables
    from lakehouse.serving.catalog import publish_catalog

    settings = get_settings()
    results = maintain_tables(settings.tables_dir, retention_hours)
    for r in results:
        if r.files_compacted or r.files_vacuumed:
            compacted = f"{r.files_compacted} files -> {r.files_added}"
            click.echo(f"  {r.table:<28} {compacted:>14}, {r.files_vacuumed} vacuumed")
    publish_catalog(settings.tables_dir, settings.catalog_path)
    click.echo(f"maintained {len(results)} tables")


@main.group()
def quarantine() -> None:
    """Rejected records: list them by rule, show them, fix them, replay them into refined."""


def _refined_table(name: str):
    from lakehouse.components.declared import refined_tables

    tables = {t.name: t for t in refined_tables()}
    if name.removeprefix("quarantine.") not in tables:
        raise click.BadParameter(f"one of {', '.join(tables)}", param_hint="TABLE")
    return tables[name.removeprefix("quarantine.")]


def _store():
    from lakehouse.lib.storage.store import DeltaStore

    return DeltaStore(root=str(get_settings().tables_dir))


def _print_frame(frame) -> None:
    from lakehouse.serving.query import format_result

    click.echo(format_result(frame.to_arrow(), "table", max_rows=frame.height or 1))


@quarantine.command("list")
def quarantine_list() -> None:
    """Quarantined rows per table and rule."""
    from lakehouse.components.declared import refined_tables
    from lakehouse.operations.replay import rules_summary

    _print_frame(rules_summary(_store(), list(refined_tables())))


@quarantine.command("show")
@click.argument("table")
@click.option("--rule", default=None, help="Only records that broke this rule, e.g. email:valid_email.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
def quarantine_show(table: str, rule: str | None, limit: int) -> None:
    """Sample quarantined records of TABLE (customers, products, orders, order_items, payments)."""
    from lakehouse.operations.replay import show

    _print_frame(show(_store(), _refined_table(table), rule, limit))


@quarantine.command("fix")
@click.argument("table")
@click.option("--set", "assignments", multiple=True, required=True, help="COLUMN=SQL, e.g. email='a@b.com'.")
@click.option("--where", required=True, help="SQL predicate selecting the records, e.g. customer_id = 42.")
def quarantine_fix(table: str, assignments: tuple[str, ...], where: str) -> None:
    """Correct quarantined records in place (audited); then `replay` them."""
    from lakehouse.operations.replay import fix
    from lakehouse.serving.catalog import publish_catalog

    updates = dict(a.split("=", 1) for a in assignments if "=" in a)
    if len(updates) != len(assignments):
        raise click.BadParameter("each --set is COLUMN=SQL", param_hint="--set")
    changed = _or_exit(lambda: fix(_store(), _refined_table(table), updates, where))
    settings = get_settings()
    publish_catalog(settings.tables_dir, settings.catalog_path)
    click.echo(f"fixed {changed} record(s) in quarantine.{_refined_table(table).name}")


@quarantine.command("replay")
@click.argument("table")
@click.option("--where", default=None, help="SQL predicate: replay only these records (default: all).")
def quarantine_replay(table: str, where: str | None) -> None:
    """Re-validate quarantined records; merge those that pass into refined and remove them (audited).

    The next build (`make run`) carries them into curated.
    """
    from lakehouse.lib.privacy import Pseudonymiser
    from lakehouse.operations.replay import replay
    from lakehouse.serving.catalog import publish_catalog

    settings = get_settings()
    result = _or_exit(
        lambda: replay(_store(), _refined_table(table), Pseudonymiser(key=settings.pii_key), where)
    )
    publish_catalog(settings.tables_dir, settings.catalog_path)
    click.echo(
        f"{result.candidates} record(s) replayed: {result.replayed} now in refined.{result.table}, "
        f"{result.still_failing} still failing (left in quarantine)"
    )


@quarantine.command("files")
def quarantine_files() -> None:
    """Files quarantined whole (corrupt, truncated, wrong header, changed column type), with the reason."""
    from lakehouse.components.declared import file_sets
    from lakehouse.operations.rejected_files import rejected_files

    _print_frame(rejected_files(_store(), list(file_sets().values())))


@quarantine.command("release-file")
@click.argument("file_set")
@click.argument("file_name")
def quarantine_release_file(file_set: str, file_name: str) -> None:
    """Let a quarantined file of FILE_SET be ingested again, once it was re-sent or repaired (audited).

    The next run (its sensor, or `make run`) reads it like a new file.
    """
    from lakehouse.components.declared import file_sets
    from lakehouse.operations.rejected_files import release_file

    declared = file_sets()
    if file_set not in declared:
        raise click.BadParameter(f"one of {', '.join(declared)}", param_hint="FILE_SET")
    _or_exit(lambda: release_file(_store(), declared[file_set], file_name))
    click.echo(f"released {file_name}: the next run of {file_set} ingests it again")


def _or_exit(action):
    """Run `action`; an expected problem (unknown table or version) is a one-line error."""
    try:
        return action()
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error


@main.command()
@click.option("--scale", type=float, required=True, help="Scale factor (the design targets are for 1).")
@click.option("--seed", default=42, show_default=True, help="Random seed: same seed, same data.")
@click.option("--days", default=365, show_default=True, help="Days of shop history to simulate.")
@click.option("--keep", is_flag=True, help="Keep the benchmark's data dir instead of removing it.")
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
def bench(scale: float, seed: int, days: int, keep: bool, json_path: Path | None, root: Path | None) -> None:
    """Time a full build and a one-day incremental build, layer by layer, with peak memory.

    Each layer runs through Dagster in a process of its own, in a throw-away data dir: your
    tables and run history are not touched.
    """
    from lakehouse.benchmark import BenchmarkError, benchmark, format_report, write_json

    try:
        report = benchmark(root or get_settings().data_dir / "bench", scale, seed, days, keep, click.echo)
    except BenchmarkError as error:
        raise click.ClickException(str(error)) from error
    click.echo(format_report(report))
    if json_path is not None:
        write_json(report, json_path)
        click.echo(f"\nresults written to {json_path}")
    if keep:
        click.echo(f"data kept in {report.data_dir}")
