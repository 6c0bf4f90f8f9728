"""Changing the lakehouse: `plan` what a code change does to the tables, `apply` it, roll it back."""

import click

from lakehouse.cli.context import Project, pass_project


@click.command()
@pass_project
def plan(project: Project) -> None:
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

    found = plan_now(project.settings, declared_tables(build_definitions(project.settings)))
    click.echo(found.text())


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
    click.echo(
        "nothing to apply" if record is None else f"apply {record.id} done (undo: lakehouse apply --rollback)"
    )


def _or_exit(action):
    """Run `action`; a refused or failed apply is a one-line error, exit status 1."""
    from lakehouse.lib.storage.migrations import CastError
    from lakehouse.operations.apply import ApplyError

    try:
        return action()
    except (ApplyError, CastError, ValueError) as error:
        raise click.ClickException(str(error)) from error


COMMANDS = (plan, apply)
