"""Changing the lakehouse: `plan` what a code change does to the tables, `apply` it, roll it back,
and `backup` everything."""

from pathlib import Path

import click

from lakehouse.cli.context import Project, pass_project


@click.command()
@click.option(
    "--env",
    "env",
    default=None,
    help="Also build the affected tables into this isolated environment (data/envs/ENV) and diff "
    "them against main; query it with `lakehouse sql --env ENV`.",
)
@pass_project
def plan(project: Project, env: str | None) -> None:
    """Show what the code's changes do to the tables; write nothing.

    \b
    For each affected table: the kind of change (new table, column added, removed, renamed,
    retyped, key changed, transform changed), whether it breaks the tables downstream, the
    migration `lakehouse apply` would run and what it would rebuild (the table, the tables
    downstream, the days of a day-partitioned table). A rename or a retype is declared in the
    table's spec, e.g. migrations=({"rename": {"chanel": "channel"}}, {"cast": {"qty": "Int32"}}).
    """
    from lakehouse.definitions import build_definitions
    from lakehouse.operations.apply import plan_now
    from lakehouse.operations.plan import declared_tables

    declared = declared_tables(build_definitions(project.settings))
    click.echo(plan_now(project.settings, declared).text())
    if env is not None:
        _build_environment(project, env, declared)


def _build_environment(project: Project, name: str, declared: list) -> None:
    import dagster as dg

    from lakehouse.definitions import build_definitions
    from lakehouse.operations import environments

    click.echo(f"\nbuilding environment {name} (unchanged tables read from main, not copied) …")
    with dg.DagsterInstance.ephemeral() as instance:
        built = _or_exit(
            lambda: environments.build(
                project.settings, name, build_definitions, declared, instance, click.echo
            )
        )
    for changed in built.diffs:
        click.echo(changed.text())
    click.echo(f"environment {name}: {len(built.built)} tables built in {built.settings.tables_dir}")


@click.command()
@click.option("--rollback", is_flag=True, help="Undo the newest apply: restore every table it changed.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_project
def apply(project: Project, rollback: bool, yes: bool) -> None:
    """Carry out the plan: migrate tables in place, then rebuild what the plan names.

    \b
    Every declared cast is checked on every row first: one that fails stops the apply before
    anything is written and names the rows. Each table's migration is one atomic, audited
    Delta commit; then one run rebuilds the tables the plan names and republishes the catalog.
    An apply that was interrupted is finished by running it again. `--rollback` restores every
    table the newest apply changed to its version before it (revert the code too).
    """
    from lakehouse.operations import apply as change

    settings = project.settings
    if rollback:
        if not yes:
            click.confirm("Restore every table the newest apply changed?", abort=True)
        record = _or_exit(lambda: change.rollback(settings, click.echo))
        click.echo(f"apply {record.id} rolled back")
        return
    from lakehouse.definitions import build_definitions
    from lakehouse.operations.plan import declared_tables

    definitions = build_definitions(settings)
    declared = declared_tables(definitions)
    click.echo(change.plan_now(settings, declared).text())
    if not yes:
        click.confirm("Apply this plan?", abort=True)
    with project.instance() as instance:
        record = _or_exit(lambda: change.apply(settings, definitions, instance, declared, click.echo))
    if record is None:
        click.echo("nothing to apply")
        return
    for changed in change.diffs(settings, declared, record):
        click.echo(changed.text())
    click.echo(f"apply {record.id} done (undo: lakehouse apply --rollback)")


@click.command(name="diff")
@click.argument("table")
@click.option("--from", "before", type=int, required=True, help="The older version.")
@click.option("--to", "after", type=int, default=None, help="The newer version.  [default: the newest]")
@pass_project
def diff_versions(project: Project, table: str, before: int, after: int | None) -> None:
    """Compare two versions of TABLE (e.g. curated.mart_daily_sales) by its key.

    \b
    Rows added, removed and changed, the columns that changed and sample rows before and after;
    for the sales mart, net revenue by day too. Bookkeeping columns (_...) are left out.
    """
    from lakehouse.definitions import build_definitions
    from lakehouse.operations.apply import table_uri
    from lakehouse.operations.diff import diff
    from lakehouse.operations.plan import declared_tables

    key = table.replace(".", "/")
    found = [t for t in declared_tables(build_definitions(project.settings)) if t.key == key and t.row_key]
    if not found:
        raise click.BadParameter(f"{table}: not a table with a key", param_hint="TABLE")
    uri = table_uri(project.settings, key)
    renames = found[0].migrations.renames  # a renamed column compared under its new name
    click.echo(_or_exit(lambda: diff(uri, key, found[0].row_key, before, after, renames)).text())


def _or_exit(action):
    """Run `action`; a refused or failed apply is a one-line error, exit status 1."""
    from lakehouse.lib.storage.migrations import CastError
    from lakehouse.operations.apply import ApplyError
    from lakehouse.operations.backup import BackupError
    from lakehouse.operations.environments import EnvironmentError

    try:
        return action()
    except (ApplyError, BackupError, CastError, EnvironmentError, ValueError) as error:
        raise click.ClickException(str(error)) from error


@click.group()
def backup() -> None:
    """Back up every table (one point in time), the catalog and the run history; list; restore.

    \b
    DEST is a folder or an object store's prefix (s3://bucket/prefix; endpoint and credentials
    from the AWS variables, as for LAKEHOUSE_TABLES_URI):
      lakehouse backup create /backups/lakehouse      incremental after the first
      lakehouse backup list /backups/lakehouse
      lakehouse backup restore /backups/lakehouse     refused over live tables without --force
    """


def _destination(dest: str) -> str:
    """An object store's URI as given, a folder made absolute."""
    from lakehouse.lib.storage.location import is_remote

    return dest if is_remote(dest) else str(Path(dest).resolve())


@backup.command()
@click.argument("dest")
@pass_project
def create(project: Project, dest: str) -> None:
    """Write a consistent backup to DEST: new files only, after the first.

    The tables' versions are read while no run writes: `lakehouse run` is held off by the data
    folder's lock, and runs launched from the UI, a schedule or a sensor are waited for.
    """
    from lakehouse.operations import backup as backups

    with project.instance() as instance:
        made = _or_exit(
            lambda: backups.create(
                project.settings, _destination(dest), _run_history(project), instance, click.echo
            )
        )
    click.echo(
        f"backup {made.id}: {len(made.tables)} tables, {made.files} files "
        f"({made.copied_files} new, {made.copied_bytes:,} bytes copied) in {dest}"
    )


@backup.command(name="list")
@click.argument("dest")
def list_backups(dest: str) -> None:
    """List the complete backups in DEST, oldest first."""
    from lakehouse.operations import backup as backups

    found = _or_exit(lambda: backups.backups(_destination(dest)))
    if not found:
        click.echo(f"no complete backup in {dest}")
    for made in found:
        click.echo(
            f"{made.id}  {made.created_at}  {len(made.tables)} tables  lakehouse {made.lakehouse_version}"
        )


@backup.command(name="restore")
@click.argument("src")
@click.option("--id", "backup_id", default=None, help="The backup to restore.  [default: the newest]")
@click.option("--force", is_flag=True, help="Replace the live tables and run history.")
@pass_project
def restore_backup(project: Project, src: str, backup_id: str | None, force: bool) -> None:
    """Restore the tables, catalog and run history from a backup in SRC.

    Refused over a lakehouse that has tables unless --force, and refused when the backup is
    incomplete or from another version of the lakehouse.
    """
    from lakehouse.operations import backup as backups
    from lakehouse.serving.catalog import publish_catalog
    from lakehouse.serving.resource import ServingCatalog

    settings = project.settings
    restored = _or_exit(
        lambda: backups.restore(settings, _destination(src), _run_history(project), backup_id, force)
    )
    publish_catalog(settings.tables_uri, ServingCatalog.from_settings(settings))
    click.echo(f"restored backup {restored.id}: {len(restored.tables)} tables; catalog republished")


def _run_history(project: Project) -> Path | None:
    """The folder of the Dagster instance's SQLite storage, as its dagster.yaml names it."""
    import yaml

    config_file = project.dagster_home / "dagster.yaml"
    config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
    base = ((config or {}).get("storage") or {}).get("sqlite", {}).get("base_dir")
    return None if base is None else project.dagster_home / base


@click.group(name="env")
def environment() -> None:
    """The isolated environments `lakehouse plan --env NAME` builds: list them, delete one.

    \b
      lakehouse env list
      lakehouse env delete NAME      its own tables and catalog; main's are never touched
    """


@environment.command(name="list")
@pass_project
def list_environments(project: Project) -> None:
    """Each environment: its tables built (its own) and linked (main's), and its size on disk."""
    from lakehouse.operations import environments

    found = environments.environments(project.settings)
    if not found:
        click.echo("no environments (build one with `lakehouse plan --env NAME`)")
    for folder in found:
        summary = environments.summary(folder)
        click.echo(
            f"{folder.name}  {summary.own} own tables, {summary.linked} linked to main  "
            f"{summary.bytes / 1e6:,.1f} MB of its own  ({folder})"
        )


@environment.command(name="delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_project
def delete_environment(project: Project, name: str, yes: bool) -> None:
    """Delete environment NAME: its own tables and catalog (main's tables are only linked)."""
    from lakehouse.operations import environments

    if not yes:
        click.confirm(f"Delete environment {name} and its own tables?", abort=True)
    folder = _or_exit(lambda: environments.delete(project.settings, name))
    click.echo(f"environment {name} deleted ({folder})")


COMMANDS = (plan, apply, diff_versions, backup, environment)
