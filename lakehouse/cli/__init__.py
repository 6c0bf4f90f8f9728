"""The `lakehouse` command line: generate sources, run the build, query the catalog.

One module per group of commands (sources, build, query, operations, quarantine). The `main` group
resolves the settings and the Dagster instance's folder once and hands them to every command: no
command changes the environment or the working directory.
"""

from pathlib import Path

import click

from lakehouse.cli import (
    build,
    change,
    deployment,
    dev,
    operations,
    privacy,
    quarantine,
    query,
    retention,
    sources,
)
from lakehouse.cli.context import Project
from lakehouse.settings import SettingsError, get_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Root of everything the lakehouse writes.  [default: $LAKEHOUSE_DATA_DIR, else <project>/data]",
)
@click.option(
    "--dagster-home",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    envvar="DAGSTER_HOME",
    default=None,
    help="The Dagster instance's folder (its dagster.yaml), where runs are recorded for the UI.  "
    "[default: $DAGSTER_HOME, else the profile's: <project> for embedded, <project>/deploy/production "
    "for LAKEHOUSE_PROFILE=production]",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, dagster_home: Path | None) -> None:
    """lakehouse: simulated shop sources -> raw -> refined -> curated Delta tables, served by DuckDB.

    \b
    Start here:
      lakehouse run                      generate the sources and build everything
      lakehouse tables                   what can be queried
      lakehouse sql "select ..."         ask the catalog (read-only)
      lakehouse dev                      open the Dagster UI
    """
    try:
        settings = get_settings(data_dir)
    except SettingsError as error:
        raise click.UsageError(str(error)) from error
    ctx.obj = Project(settings=settings, dagster_home=(dagster_home or settings.dagster_home).resolve())


for group in (sources, build, query, operations, quarantine, privacy, retention, change, dev, deployment):
    for command in group.COMMANDS:
        main.add_command(command)
