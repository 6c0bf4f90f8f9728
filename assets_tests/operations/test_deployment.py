"""The deployment's checks against a real PostgreSQL server: a database that cannot be used is one
line naming the service, its URL without the password, and what to check."""

import socket
from pathlib import Path

import pytest

from assets_tests.postgres_server import PASSWORD, PostgresServer
from lakehouse.operations.deployment import (
    DeploymentError,
    check_deployment,
    instance_database_problem,
    instance_fault,
    service_command,
)
from lakehouse.settings import get_settings


def instance_url(uri: str) -> str:
    """The server's URI as the Dagster instance takes it: SQLAlchemy's psycopg2 driver named."""
    return uri.replace("postgresql://", "postgresql+psycopg2://", 1)


def _port_where_nothing_listens() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again on return: nothing listens there


def test_a_server_that_is_down_is_named_with_its_url_without_the_password():
    port = _port_where_nothing_listens()
    problem = instance_database_problem(f"postgresql+psycopg2://dagster:{PASSWORD}@127.0.0.1:{port}/dagster")

    assert problem is not None
    assert problem.startswith(
        "the Dagster instance database (PostgreSQL) at "
        f"postgresql+psycopg2://dagster:***@127.0.0.1:{port}/dagster, "
        "from LAKEHOUSE_DAGSTER_PG_URL, cannot be used ("
    )
    assert f"port {port} failed: Connection refused" in problem
    assert "Check that the server is running" in problem
    assert PASSWORD not in problem


def test_a_wrong_password_and_a_missing_database_are_told_apart(postgres_server: PostgresServer):
    wrong = instance_database_problem(postgres_server.uri("postgres", password="not-the-password"))
    missing = instance_database_problem(postgres_server.uri("no_such_database"))

    assert wrong is not None and 'password authentication failed for user "lakehouse"' in wrong
    assert "not-the-password" not in wrong
    assert missing is not None and 'database "no_such_database" does not exist' in missing
    assert PASSWORD not in missing
    assert instance_database_problem(postgres_server.uri("postgres")) is None


def test_the_check_list_of_a_production_deployment(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "production")
    monkeypatch.setenv("LAKEHOUSE_DAGSTER_PG_URL", instance_url(postgres_server.uri("postgres")))
    monkeypatch.setenv("LAKEHOUSE_PII_KEY", "a-real-key")
    monkeypatch.setenv("LAKEHOUSE_ERASURE_KEY", "another-real-key")
    checks = check_deployment(get_settings(tmp_path))
    assert [(item.what, item.found.split(" ", 1)[0]) for item in checks] == [
        ("profile", "production"),
        ("Dagster instance", "PostgreSQL"),
        ("LAKEHOUSE_TABLES_URI", str(tmp_path / "tables")),
        ("LAKEHOUSE_LANDING_DIR", str(tmp_path / "sources" / "landing")),
    ]
    assert PASSWORD not in repr(checks)

    monkeypatch.setenv(
        "LAKEHOUSE_DAGSTER_PG_URL", instance_url(postgres_server.uri("postgres", password="wrong"))
    )
    monkeypatch.delenv("LAKEHOUSE_ERASURE_KEY")
    with pytest.raises(DeploymentError) as raised:
        check_deployment(get_settings(tmp_path))
    lines = str(raised.value).splitlines()
    assert lines[:2] == [
        "the deployment cannot run:",  # every problem at once: a deployment is fixed in one go
        "- LAKEHOUSE_ERASURE_KEY is the development key: set it to a secret of your own",
    ]
    assert lines[2].startswith(
        "- the Dagster instance database (PostgreSQL) at postgresql+psycopg2://lakehouse:***@"
    )
    assert 'password authentication failed for user "lakehouse"' in lines[2]
    assert len(lines) == 3


def test_each_service_is_dagsters_own_command(tmp_path: Path):
    workspace = tmp_path / "workspace.yaml"
    assert [Path(part).name for part in service_command("webserver", "0.0.0.0", None, workspace)] == [
        "dagster-webserver",
        "-h",
        "0.0.0.0",
        "-p",
        "3000",
        "-w",
        "workspace.yaml",
    ]
    assert service_command("daemon", "0.0.0.0", None, workspace)[1:] == ["run", "-w", str(workspace)]
    assert service_command("code-server", "10.0.0.5", 4001, workspace)[1:] == [
        "code-server",
        "start",
        "-m",
        "lakehouse.definitions",
        "--location-name",
        "lakehouse",
        "-h",
        "10.0.0.5",
        "-p",
        "4001",
    ]


def _allow_connections(server: PostgresServer, database: str, allowed: bool) -> None:
    """Open or close `database` to new connections, and end its open ones: the instance's database
    going away while the rest of the server (other tests' databases) stays up."""
    import adbc_driver_postgresql.dbapi as postgresql  # only here: 0.5 s a collecting process

    with postgresql.connect(server.uri()) as connection:
        connection.adbc_connection.set_autocommit(True)
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
            cursor.execute(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
            )


def test_a_run_that_raised_because_the_database_went_away_is_explained(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    url = instance_url(postgres_server.create_database("dagster_instance_goes_away"))
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "production")
    monkeypatch.setenv("LAKEHOUSE_DAGSTER_PG_URL", url)
    settings = get_settings(tmp_path)
    assert instance_fault(settings) is None  # it answers: the run failed for another reason

    _allow_connections(postgres_server, "dagster_instance_goes_away", allowed=False)
    try:
        fault = instance_fault(settings)
    finally:
        _allow_connections(postgres_server, "dagster_instance_goes_away", allowed=True)

    assert fault is not None
    assert fault.startswith(
        "the run stopped mid-way: the Dagster instance database (PostgreSQL) at postgresql+psycopg2://lakehouse:***@"
    )
    assert 'database "dagster_instance_goes_away" is not currently accepting connections' in fault
    assert "run the same command again" in fault
    assert PASSWORD not in fault
