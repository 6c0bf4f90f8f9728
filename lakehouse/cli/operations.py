"""Running the lakehouse day to day: the quality `report`, `restore` a table, `maintain` them all."""

from pathlib import Path

import click

from lakehouse.cli.context import Project, or_exit, pass_project


@click.command()
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
@pass_project
def report(project: Project, output: Path | None, runs: int) -> None:
    """Write the data-quality report: one HTML file with charts that opens offline.

    \b
    It answers "is my data OK?" (each table, the newest check outcomes, failing first) and shows
    the trends over the newest runs: checks passed and failed per run, quarantine by table and
    rule, anomalies flagged with their expected range, freshness per asset against its policy,
    and each table's rows and null rates.
    """
    from lakehouse.definitions import build_definitions
    from lakehouse.operations import report_html
    from lakehouse.operations.report import gather, summary_line

    settings = project.settings
    path = (output or settings.data_dir / "reports" / "quality.html").resolve()
    with project.instance() as instance:
        data = gather(settings.tables_uri, instance, build_definitions(settings), runs)
    report_html.write(data, path)
    click.echo(summary_line(data))
    click.echo(f"report written to {path}")


@click.command()
@click.argument("table")
@click.option("--version", "version", type=int, required=True, help="The version to roll back to.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_project
def restore(project: Project, table: str, version: int, yes: bool) -> None:
    """Roll a table back to an earlier version (a new commit; audited; history is kept).

    Tables downstream are not rolled back: rebuild them (`make run`) or restore them too.
    """
    from lakehouse.lib.storage.history import restore as restore_table
    from lakehouse.serving.catalog import publish_catalog
    from lakehouse.serving.resource import ServingCatalog

    settings = project.settings
    if not yes:
        click.confirm(f"Roll {table} back to version {version}?", abort=True)
    restored = or_exit(lambda: restore_table(settings.tables_uri, table, version))
    publish_catalog(settings.tables_uri, ServingCatalog.from_settings(settings))
    click.echo(f"{table} is now version {restored.version}, with the content of version {version}")


@click.command()
@pass_project
def maintain(project: Project) -> None:
    """Compact small files, then enforce the retention policies (`lakehouse retention show`) in every
    table and the landing zone (audited), remove the scratch folders of steps killed mid-way, and
    republish the catalog: what the weekly maintenance job does."""
    from lakehouse.defs.orchestration.retention import RETENTION_POLICIES
    from lakehouse.lib.storage import landing_expiry
    from lakehouse.lib.storage.maintenance import maintain as maintain_tables
    from lakehouse.lib.storage.spill import remove_abandoned
    from lakehouse.serving.catalog import publish_catalog
    from lakehouse.serving.resource import ServingCatalog

    settings = project.settings
    results = maintain_tables(settings.tables_uri, RETENTION_POLICIES)
    for r in results:
        if r.files_compacted or r.retention.changes:
            compacted = f"{r.files_compacted} files -> {r.files_added}"
            click.echo(f"  {r.table:<28} {compacted:>14}; {r.retention.describe(dry_run=False)}")
    days = RETENTION_POLICIES.landing_days
    for folder in landing_expiry.expire(settings.landing_uri, settings.tables_uri, days):
        if folder.files or folder.held:
            click.echo(f"  {folder.describe(dry_run=False)}")
    for scratch in remove_abandoned(settings.scratch_dir):
        click.echo(f"  removed the abandoned scratch folder {scratch}")
    publish_catalog(settings.tables_uri, ServingCatalog.from_settings(settings))
    click.echo(f"maintained {len(results)} tables")


@click.group()
def runs() -> None:
    """The Dagster instance's runs: `lakehouse runs reap` ends runs whose process died."""


@runs.command()
@pass_project
def reap(project: Project) -> None:
    """Mark failed every STARTED run whose process is gone (killed, crashed), and alert for each;
    remove the scratch folders of steps killed mid-way (under data/scratch).

    What the daemon's `reap_dead_runs` sensor does every 30 seconds: a dead run left STARTED holds
    the run queue's one slot, so nothing queued would start. Safe to run any time: a run whose
    process is alive, runs on another host, and scratch folders in use are left alone.
    """
    from lakehouse.defs.orchestration.alerts import Alerts
    from lakehouse.defs.orchestration.reaper import reap as reap_dead

    settings = project.settings
    alerts = Alerts(alerts_path=str(settings.alerts_path), webhook_url=settings.alert_webhook_url or "")
    with project.instance() as instance:
        reaping = reap_dead(instance, alerts, settings.scratch_dir)
    for line in [*(run.message for run in reaping.runs), *reaping.removals]:
        click.echo(line)
    click.echo(f"reaped {len(reaping.runs)} dead run(s); alerts in {settings.alerts_path}")


COMMANDS = (report, restore, maintain, runs)
