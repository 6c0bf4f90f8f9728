"""`lakehouse retention`: the retention policies in force, and enforcing them (or a dry run)."""

from datetime import UTC, datetime
from pathlib import Path

import click

from lakehouse.cli.build import exclusive_run
from lakehouse.cli.context import Project, pass_project


@click.group()
def retention() -> None:
    """How long each table keeps its rows and its Delta history, backups theirs, landing files theirs.

    \b
      lakehouse retention show                        every table's policy
      lakehouse retention apply --dry-run             what would go now, per table
      lakehouse retention apply --dry-run --as-of 2027-03-01
      lakehouse retention apply [--backups DEST]      expire rows and landing files, vacuum (audited)
    """


@retention.command()
def show() -> None:
    """Print every table's policy (tables not listed keep rows for ever, history a week)."""
    from lakehouse.defs.orchestration.retention import RETENTION_POLICIES

    width = max(map(len, RETENTION_POLICIES.tables))
    for table, policy in sorted(RETENTION_POLICIES.tables.items()):
        click.echo(f"  {table:<{width}}  {policy.describe()}")
    click.echo(f"  {'backups':<{width}}  {RETENTION_POLICIES.backup_days} days (the newest is always kept)")
    landing = f"files: {RETENTION_POLICIES.landing_days} days after they landed, once raw holds them"
    click.echo(f"  {'landing':<{width}}  {landing}")


@retention.command()
@click.option("--dry-run", is_flag=True, help="Print what would go, per table (rows, files); change nothing.")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="With --dry-run: what would go on that day.  [default: now]",
)
@click.option(
    "--backups",
    "backups_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A `lakehouse backup` folder whose backups past their retention go too.",
)
@pass_project
def apply(project: Project, dry_run: bool, as_of: datetime | None, backups_dir: Path | None) -> None:
    """Expire rows past their retention and vacuum history past it, in every table, and delete the
    landing files past theirs that raw holds (audited).

    Quarantined records past their retention are listed by rule before they go, each with its raw
    record (so the reconciliation still holds). Rows a quarantine fix not yet replayed needs are
    held, with the reason. Runs under the run lock: never during a build.
    """
    if as_of is not None and not dry_run:
        raise click.UsageError("--as-of previews a later day: use it with --dry-run")
    from lakehouse.defs.orchestration.retention import RETENTION_POLICIES
    from lakehouse.lib.storage import expiry, landing_expiry
    from lakehouse.operations import backup
    from lakehouse.serving.catalog import publish_catalog
    from lakehouse.serving.resource import ServingCatalog

    settings = project.settings
    now = as_of.replace(tzinfo=UTC) if as_of else datetime.now(UTC)
    with exclusive_run(settings.data_dir):
        results = expiry.apply(settings.tables_uri, RETENTION_POLICIES, now=now, dry_run=dry_run)
        roots, days = (settings.landing_uri, settings.tables_uri), RETENTION_POLICIES.landing_days
        landing = landing_expiry.expire(*roots, days, now=now, dry_run=dry_run)
        if not dry_run:
            publish_catalog(settings.tables_uri, ServingCatalog.from_settings(settings))
    for result in results:
        if result.changes:
            click.echo(f"  {result.describe(dry_run)}")
    for folder in landing:
        if folder.files or folder.held:
            click.echo(f"  {folder.describe(dry_run)}")
    totals = expiry.summary(results)
    verb = "would go" if dry_run else "gone"
    click.echo(
        f"{totals['tables']} tables: {totals['rows']} rows and {totals['records']} raw records {verb}, "
        f"{totals['files']} files {'would be ' if dry_run else ''}vacuumed, {totals['held']} tables held; "
        f"{sum(f.files for f in landing)} landing files {verb}"
    )
    if backups_dir is not None:
        pruned = backup.prune(backups_dir, RETENTION_POLICIES.backup_days, now, dry_run)
        click.echo(
            f"backups: {len(pruned.backups)} past {RETENTION_POLICIES.backup_days} days {verb} "
            f"({', '.join(pruned.backups) or 'none'}), {pruned.files} pooled files with them; "
            f"{pruned.kept} kept"
        )


COMMANDS = (retention,)
