"""`lakehouse quarantine …`: the rejected records and files, and how to get them back into refined."""

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from lakehouse.cli.context import Project, or_exit, pass_project
from lakehouse.settings import Settings

if TYPE_CHECKING:
    import polars as pl

    from lakehouse.defs.refined.refine import RefinedTable
    from lakehouse.lib.storage.store import DeltaStore

T = TypeVar("T")


@click.group()
def quarantine() -> None:
    """Rejected records: list them by rule, show them, fix them, replay them into refined."""


@quarantine.command("list")
@pass_project
def quarantine_list(project: Project) -> None:
    """Quarantined rows per table and rule."""
    from lakehouse.components.declared import refined_tables
    from lakehouse.operations.replay import rules_summary

    _print_frame(rules_summary(_store(project.settings), list(refined_tables())))


@quarantine.command("show")
@click.argument("table")
@click.option("--rule", default=None, help="Only records that broke this rule, e.g. email:valid_email.")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Records shown at most."
)
@pass_project
def quarantine_show(project: Project, table: str, rule: str | None, limit: int) -> None:
    """Sample quarantined records of TABLE (customers, products, orders, order_items, payments)."""
    from lakehouse.operations.replay import show

    refined = _refined_table(table)
    _print_frame(or_exit(lambda: show(_store(project.settings), refined, rule, limit)))


@quarantine.command("fix")
@click.argument("table")
@click.option("--set", "assignments", multiple=True, required=True, help="COLUMN=SQL, e.g. email='a@b.com'.")
@click.option("--where", required=True, help="SQL predicate selecting the records, e.g. customer_id = 42.")
@pass_project
def quarantine_fix(project: Project, table: str, assignments: tuple[str, ...], where: str) -> None:
    """Correct quarantined records in place (audited); then `replay` them."""
    from lakehouse.operations.replay import fix
    from lakehouse.serving.catalog import publish_catalog
    from lakehouse.serving.resource import ServingCatalog

    settings = project.settings
    updates = dict(a.split("=", 1) for a in assignments if "=" in a)
    if len(updates) != len(assignments):
        raise click.BadParameter("each --set is COLUMN=SQL", param_hint="--set")
    refined = _refined_table(table)
    changed = _or_exit_on_bad_sql(lambda: fix(_store(settings), refined, updates, where))
    publish_catalog(settings.tables_uri, ServingCatalog.from_settings(settings))
    click.echo(f"fixed {changed} record(s) in quarantine.{refined.name}")


@quarantine.command("replay")
@click.argument("table")
@click.option("--where", default=None, help="SQL predicate: replay only these records (default: all).")
@pass_project
def quarantine_replay(project: Project, table: str, where: str | None) -> None:
    """Re-validate quarantined records; merge those that pass into refined and remove them (audited).

    The next build (`make run`) carries them into curated.
    """
    from lakehouse.lib.privacy import Pseudonymiser
    from lakehouse.operations.replay import replay
    from lakehouse.serving.catalog import publish_catalog
    from lakehouse.serving.resource import ServingCatalog

    settings = project.settings
    refined = _refined_table(table)
    pseudonymiser = Pseudonymiser(key=settings.pii_key)
    result = _or_exit_on_bad_sql(lambda: replay(_store(settings), refined, pseudonymiser, where))
    publish_catalog(settings.tables_uri, ServingCatalog.from_settings(settings))
    click.echo(
        f"{result.candidates} record(s) replayed: {result.replayed} now in refined.{result.table}, "
        f"{result.still_failing} still failing (left in quarantine)"
    )


@quarantine.command("files")
@pass_project
def quarantine_files(project: Project) -> None:
    """Files quarantined whole (corrupt, truncated, wrong header, changed column type), with the reason."""
    from lakehouse.components.declared import file_sets
    from lakehouse.operations.rejected_files import rejected_files

    _print_frame(rejected_files(_store(project.settings), list(file_sets().values())))


@quarantine.command("release-file")
@click.argument("file_set")
@click.argument("file_name")
@pass_project
def quarantine_release_file(project: Project, file_set: str, file_name: str) -> None:
    """Let a quarantined file of FILE_SET be ingested again, once it was re-sent or repaired (audited).

    The next run (its sensor, or `make run`) reads it like a new file.
    """
    from lakehouse.components.declared import file_sets
    from lakehouse.operations.rejected_files import release_file

    declared = file_sets()
    if file_set not in declared:
        raise click.BadParameter(f"one of {', '.join(declared)}", param_hint="FILE_SET")
    or_exit(lambda: release_file(_store(project.settings), declared[file_set], file_name))
    click.echo(f"released {file_name}: the next run of {file_set} ingests it again")


def _refined_table(name: str) -> "RefinedTable":
    """The refined table TABLE names (`orders` or `quarantine.orders`); a usage error otherwise."""
    from lakehouse.components.declared import refined_tables

    tables = {t.name: t for t in refined_tables()}
    if name.removeprefix("quarantine.") not in tables:
        raise click.BadParameter(f"one of {', '.join(tables)}", param_hint="TABLE")
    return tables[name.removeprefix("quarantine.")]


def _store(settings: Settings) -> "DeltaStore":
    from lakehouse.lib.storage.store import DeltaStore

    return DeltaStore.from_settings(settings)


def _print_frame(frame: "pl.DataFrame") -> None:
    from lakehouse.serving.query import format_result

    click.echo(format_result(frame.to_arrow(), "table", max_rows=frame.height or 1))


def _or_exit_on_bad_sql(action: Callable[[], T]) -> T:
    """`or_exit`, and the user's SQL (`--set`, `--where`) rejected in one message, not a traceback."""
    from deltalake.exceptions import DeltaError
    from polars.exceptions import PolarsError

    try:
        return or_exit(action)
    except (DeltaError, PolarsError) as error:
        raise click.ClickException(str(error).split("\n\n")[0]) from error  # without Polars' query plan


COMMANDS = (quarantine,)
