"""`lakehouse dev`: the Dagster UI on the project's data and run history (what `make dev` runs)."""

import sys

import click

from lakehouse.cli.context import Project, pass_project
from lakehouse.settings import PROJECT_ROOT


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the UI listens on.")
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="The UI's port.")
@pass_project
def dev(project: Project, host: str, port: int) -> None:
    """Open the Dagster UI (`dg dev`: webserver, daemon, code server) at http://HOST:PORT.

    \b
    It shows the runs of `lakehouse run` too: both use the instance in --dagster-home.
    The daemon runs the schedules and sensors while it is up.
    Ctrl-C or SIGTERM stops it within 10 seconds and leaves no process behind, also when it
    was started in the background by a script.
    """
    from lakehouse.operations.dev_server import dev_command, dev_environment, serve

    project.check_instance()
    click.echo(f"Dagster UI: http://{host}:{port}  (Ctrl-C stops it)")
    code = serve(dev_command(host, port), PROJECT_ROOT, dev_environment(project.dagster_home), click.echo)
    sys.exit(code)


COMMANDS = (dev,)
