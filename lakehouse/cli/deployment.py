"""`lakehouse deployment`: check the deployment the profile describes, and start its services."""

import os
from pathlib import Path

import click

from lakehouse.cli.context import Project, pass_project
from lakehouse.settings import PROJECT_ROOT


@click.group()
def deployment() -> None:
    """The deployment chosen by LAKEHOUSE_PROFILE (embedded or production): check it, start it.

    \b
    See README "Running it in production" for what runs where and the variables.
    """


@deployment.command()
@pass_project
def check(project: Project) -> None:
    """Check the profile's variables and services, and print the check-list.

    \b
    Exits 1 naming every problem: a variable missing or still a development key, the Dagster
    instance's PostgreSQL database or the object store not answering (with what to check).
    """
    from lakehouse.operations.deployment import DeploymentError, check_deployment

    try:
        checks = check_deployment(project.settings)
    except DeploymentError as error:
        raise click.ClickException(str(error)) from None
    for item in checks:
        click.echo(f"ok  {item.what}: {item.found}")


@deployment.command()
@click.argument("service", type=click.Choice(["webserver", "daemon", "code-server"]))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the service listens on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="The service's port.  [default: webserver 3000, code-server 4000]",
)
@click.option(
    "--workspace",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=PROJECT_ROOT / "workspace.yaml",
    show_default="<project>/workspace.yaml",
    help="Where the webserver and the daemon find the code: the project's loads it in-process; "
    "deploy/production/workspace.yaml reaches a code-server at LAKEHOUSE_CODE_SERVER_HOST:PORT.",
)
@pass_project
def serve(project: Project, service: str, host: str, port: int | None, workspace: Path) -> None:
    """Start one service on the profile's Dagster instance (replaces this process).

    \b
    SERVICE is the webserver (UI, GraphQL), the daemon (schedules, sensors, run queue, run
    monitoring) or the code-server (the definitions; runs are launched as its children).
    The instance is checked first: its database not answering is a one-line error.
    """
    from lakehouse.operations.deployment import service_command
    from lakehouse.operations.dev_server import dev_environment

    project.check_instance()
    command = service_command(service, host, port, workspace.resolve())
    click.echo(f"{service} on the {project.settings.profile} instance in {project.dagster_home}", err=True)
    os.execve(command[0], command, dev_environment(project.dagster_home))


COMMANDS = (deployment,)
