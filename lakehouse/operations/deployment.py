"""Whether the deployment the profile describes can run: every secret it needs is set and every
service it uses answers.

Checked before the UI, the daemon or a run starts (and by `lakehouse deployment check`), so that a
fault is one line naming the service, its address without a password, and what to check, instead of
a Dagster traceback after its connection retries. Run history is the Dagster instance's; a run that
fails on a check has not started, so nothing is written and nothing needs cleaning up.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from lakehouse.lib.storage.location import ObjectStoreError, check_reachable, is_remote
from lakehouse.settings import DAGSTER_PG_URL_VARIABLE, PRODUCTION, Settings
from lakehouse.sources.errors import redacted

CONNECT_TIMEOUT_SECONDS = 5


class DeploymentError(RuntimeError):
    """The deployment cannot run: a variable is missing or wrong, or a service does not answer."""


@dataclass(frozen=True)
class Check:
    """One line of the deployment's check-list: what was checked, and what was found."""

    what: str
    found: str


def instance_database_problem(url: str) -> str | None:
    """Why the Dagster instance's PostgreSQL database at `url` cannot be used, or None when a
    connection opens. libpq reads a password missing from the URL from PGPASSWORD or ~/.pgpass."""
    import adbc_driver_postgresql.dbapi as postgresql

    libpq_url = "postgresql://" + url.split("://", 1)[-1]  # the same URL without SQLAlchemy's driver
    separator = "&" if "?" in url else "?"
    try:
        postgresql.connect(f"{libpq_url}{separator}connect_timeout={CONNECT_TIMEOUT_SECONDS}").close()
    except Exception as error:  # the driver's errors share no base with OSError
        reason = " ".join(redacted(str(error)).removeprefix("IO: [libpq] ").split())
        return (
            f"the Dagster instance database (PostgreSQL) at {redacted(url)}, from "
            f"{DAGSTER_PG_URL_VARIABLE}, cannot be used ({reason}). Check that the server is running "
            "and reachable from this host, that the user and password (in the URL, PGPASSWORD or "
            "~/.pgpass) are right, and that the database exists"
        )
    return None


def instance_problems(settings: Settings) -> list[str]:
    """What keeps the profile's Dagster instance from opening: its variables and its database."""
    problems = settings.deployment_problems()
    if settings.profile == PRODUCTION and settings.dagster_pg_url:
        problem = instance_database_problem(settings.dagster_pg_url)
        problems += [problem] if problem else []
    return problems


def check_instance(settings: Settings) -> None:
    """Raise `DeploymentError` unless the profile's Dagster instance can be opened."""
    problems = instance_problems(settings)
    if problems:
        raise DeploymentError(_listed(problems))


def instance_fault(settings: Settings) -> str | None:
    """Why a run that raised stopped, when the cause is the instance's database no longer answering
    (checked after the fact: Dagster's own error is a retry count); None for any other cause."""
    if settings.profile != PRODUCTION or not settings.dagster_pg_url:
        return None
    problem = instance_database_problem(settings.dagster_pg_url)
    if problem is None:
        return None
    return (
        f"the run stopped mid-way: {problem}. Each table write is one atomic Delta commit, so no table "
        "holds part of a step; once the database answers, run the same command again: it picks up "
        "from what was committed and doubles nothing. The interrupted run may show as STARTED until "
        "run monitoring fails it (max_runtime_seconds) or it is terminated in the UI"
    )


def check_deployment(settings: Settings) -> list[Check]:
    """The check-list of `settings`' profile, every item passed; raises `DeploymentError` listing
    every problem found (all of them, not only the first: a deployment is fixed in one go)."""
    problems = instance_problems(settings)
    checks = [Check("profile", f"{settings.profile} (Dagster instance in {settings.dagster_home})")]
    if settings.profile == PRODUCTION and settings.dagster_pg_url:
        checks.append(Check("Dagster instance", f"PostgreSQL at {redacted(settings.dagster_pg_url)}"))
    for variable, uri in (
        ("LAKEHOUSE_TABLES_URI", settings.tables_uri),
        ("LAKEHOUSE_LANDING_DIR", settings.landing_uri),
    ):
        try:
            check_reachable(uri, variable)
        except ObjectStoreError as error:
            problems.append(str(error))
        checks.append(Check(variable, uri if is_remote(uri) else f"{uri} (a local folder)"))
    if problems:
        raise DeploymentError(_listed(problems))
    return checks


def _listed(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return "the deployment cannot run:\n" + "\n".join(f"- {problem}" for problem in problems)


SERVICES = ("webserver", "daemon", "code-server")
DEFAULT_PORTS = {"webserver": 3000, "code-server": 4000}


def service_command(service: str, host: str, port: int | None, workspace: Path) -> list[str]:
    """Dagster's own command for one service of a deployment: the webserver (UI and GraphQL), the
    daemon (schedules, sensors, the run queue, run monitoring) or the code location's gRPC server
    (loads the definitions; the runs it is asked to launch run as its child processes)."""
    bin_dir = Path(sys.executable).parent
    port = port or DEFAULT_PORTS.get(service)
    if service == "webserver":
        return [str(bin_dir / "dagster-webserver"), "-h", host, "-p", str(port), "-w", str(workspace)]
    if service == "daemon":
        return [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)]
    if service == "code-server":
        return [
            str(bin_dir / "dagster"),
            *("code-server", "start", "-m", "lakehouse.definitions", "--location-name", "lakehouse"),
            *("-h", host, "-p", str(port)),
        ]
    raise ValueError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
