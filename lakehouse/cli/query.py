"""Asking the lakehouse: `sql`, the `tables` and their `dictionary`, a table's `history` and `lineage`."""

from pathlib import Path

import click

from lakehouse.cli.context import Project, or_exit, pass_project

FORMATS = click.Choice(["table", "csv", "json"])
OUTCOME_MARKS = {"passed": "✓", "warning": "!", "failed": "✗"}


@click.command()
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
@click.option(
    "--env", "env", default=None, help="Query this isolated environment (see `lakehouse plan --env`)."
)
@pass_project
def sql(
    project: Project,
    env: str | None,
    query: str | None,
    query_file: Path | None,
    params: tuple[str, ...],
    fmt: str,
    max_rows: int,
) -> None:
    """Run read-only SQL against the catalog.

    \b
    Examples:
      lakehouse sql "select count(*) from curated.fact_order_items"
      lakehouse sql --file lakehouse/serving/queries/top_products.sql --param category=toys
    """
    from lakehouse.serving.query import format_result, run_query
    from lakehouse.serving.resource import ServingCatalog

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
        main = project.settings
        catalog = ServingCatalog.from_settings(main if env is None else main.environment(env))
        result = run_query(catalog, text, named)
    except Exception as error:  # DuckDB's and the sandbox's errors are readable: no traceback
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


@click.command()
@click.option("--describe", is_flag=True, help="Also print each table's and column's description.")
@pass_project
def tables(project: Project, describe: bool) -> None:
    """List every queryable table: schema (layer), name, columns, rows, Delta version."""
    from lakehouse.serving.query import describe_tables, list_tables
    from lakehouse.serving.resource import ServingCatalog

    catalog = ServingCatalog.from_settings(project.settings)
    try:
        infos = list_tables(catalog)
        described = {(d.schema, d.table): d for d in describe_tables(catalog)} if describe else {}
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


@click.command()
def dictionary() -> None:
    """Write the curated layer's data dictionary (Markdown) from the table contracts."""
    from lakehouse.defs.curated.dictionary import write_dictionary

    click.echo(f"wrote {write_dictionary(_column_lineage())}")


def _column_lineage():
    """The column lineage every asset of the definitions declares."""
    from lakehouse.definitions import default_definitions
    from lakehouse.lib.column_lineage import ColumnLineage

    return ColumnLineage.from_definitions(default_definitions())


@click.command()
@click.argument("table")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Newest commits shown."
)
@pass_project
def history(project: Project, table: str, limit: int) -> None:
    """Show a table's change history: who wrote what, when.

    For example `lakehouse history refined.orders`: its versions, newest first.
    """
    from lakehouse.lib.storage.history import history as table_history

    commits = or_exit(lambda: table_history(project.settings.tables_uri, table, limit))
    click.echo(f"{'version':>7}  {'at (UTC)':<19}  {'operation':<9}  {'mode':<19}  {'rows +/-':>15}  run")
    for c in commits:
        added = c.metrics.get("num_added_rows", c.metrics.get("num_target_rows_inserted", 0))
        removed = c.metrics.get("num_deleted_rows", c.metrics.get("num_target_rows_deleted", 0))
        click.echo(
            f"{c.version:>7}  {c.at:%Y-%m-%d %H:%M:%S}  {c.operation:<9}  {c.write_mode:<19}  "
            f"{f'+{added}/-{removed}':>15}  {c.run_id}"
        )


@click.command()
@click.argument("table")
@click.option("--version", "version", type=int, default=None, help="Table version (default: current).")
@click.option(
    "--column",
    default=None,
    metavar="COL",
    help="Instead: the column's path down to the raw columns it is computed from (needs no build).",
)
@pass_project
def lineage(project: Project, table: str, version: int | None, column: str | None) -> None:
    """Which run wrote a table version, from which input versions (down to raw), with which checks.

    \b
    With --column, a column's lineage instead: each column it is computed from, down to raw.
    Examples:
      lakehouse lineage curated.mart_daily_sales
      lakehouse lineage curated.fact_order_items --column net_usd
    """
    if column is not None:
        if version is not None:
            raise click.UsageError("--column shows the definitions' lineage, which has no --version")
        _echo_column_lineage(table, column)
        return
    from lakehouse.lib.storage.history import lineage as table_lineage

    tree = or_exit(lambda: table_lineage(project.settings.tables_uri, table, version))
    _echo_lineage(tree, depth=0)
    if tree.commit.run_id:
        _echo_checks(project, tree.commit.run_id, tree.commit.table.replace("/", "."))


def _echo_column_lineage(table: str, column: str) -> None:
    """The column's path as an indented tree (a column, then those it is computed from), then its raw ones."""
    path = or_exit(lambda: _column_lineage().trace(table, column))
    click.echo("\n".join(path.lines()))
    click.echo(f"\nraw columns: {', '.join(path.leaves())}")


def _echo_lineage(node, depth: int) -> None:
    c = node.commit
    click.echo(
        f"{'  ' * depth}{c.table} v{c.version}  {c.operation} ({c.write_mode or '-'})  run {c.run_id or '-'}"
    )
    for child in node.inputs:
        _echo_lineage(child, depth + 1)


def _echo_checks(project: Project, run_id: str, table: str) -> None:
    """The asset checks of `table` evaluated in run `run_id`, as the Dagster instance recorded them."""
    import polars as pl

    from lakehouse.operations.report import check_results

    with project.instance() as instance:
        checks = check_results(instance, [run_id]).filter(pl.col("table") == table)
    if not checks.is_empty():
        click.echo("\nchecks in that run:")
    for name, outcome in checks.select("check", "outcome").iter_rows():
        click.echo(f"  {OUTCOME_MARKS[outcome]} {name}" + ("" if outcome == "passed" else f" ({outcome})"))


COMMANDS = (sql, tables, dictionary, history, lineage)
