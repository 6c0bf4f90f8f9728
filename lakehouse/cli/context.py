"""What the commands share: the project they work on, passed down explicitly, and the option types."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from lakehouse.lib.storage.location import table_uris
from lakehouse.settings import Settings

if TYPE_CHECKING:
    import dagster as dg

T = TypeVar("T")

SCALE = click.FloatRange(min=0, min_open=True)
SEED = click.IntRange(min=0)
DAYS = click.IntRange(min=1)


@dataclass(frozen=True)
class Project:
    """The settings and the folder of the Dagster instance, resolved once by the `lakehouse` group
    and handed to every command through click's context object."""

    settings: Settings
    dagster_home: Path

    @property
    def has_tables(self) -> bool:
        return bool(table_uris(self.settings.tables_uri))

    @property
    def source_systems(self) -> dict[str, str]:
        """Where the simulator writes the shop database and the landing files (its keyword arguments)."""
        return {"db_uri": self.settings.shop_db_uri, "landing_uri": self.settings.landing_uri}

    def instance(self) -> "dg.DagsterInstance":
        """The project's Dagster instance, where `lakehouse run` and the UI record runs (close it);
        a profile whose instance cannot open (its database is down) is a one-line error."""
        from lakehouse.cli.instance import open_instance  # imports Dagster: only commands that need it

        self.check_instance()
        return open_instance(self.dagster_home)

    def check_instance(self) -> None:
        """Exit with the reason when the profile's Dagster instance cannot be opened."""
        from lakehouse.operations.deployment import DeploymentError, check_instance

        try:
            check_instance(self.settings)
        except DeploymentError as error:
            raise click.ClickException(str(error)) from None

    def explain_instance_fault(self) -> None:
        """After a run raised: exit with the reason when the instance's database stopped answering
        (Dagster's own error only counts its connection retries); else return, to re-raise."""
        from lakehouse.operations.deployment import instance_fault

        fault = instance_fault(self.settings)
        if fault is not None:
            raise click.ClickException(fault)


pass_project = click.make_pass_decorator(Project)


def scale_option(help_text: str) -> Callable[[T], T]:
    return click.option("--scale", default=0.01, show_default=True, type=SCALE, help=help_text)


def seed_option(help_text: str) -> Callable[[T], T]:
    return click.option("--seed", default=42, show_default=True, type=SEED, help=help_text)


def or_exit(action: Callable[[], T]) -> T:
    """Run `action`; an expected problem (unknown table or version) is a one-line error."""
    try:
        return action()
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
