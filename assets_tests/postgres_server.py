"""A real PostgreSQL 15 server for the tests: started once per session, stopped at the end.

The server refuses to run as root, so under root (CI containers) every server process runs as
`nobody`, in a temporary folder that user owns; otherwise as the current user. It listens on
127.0.0.1 at a free port and on a unix socket in its own folder, and asks for a password
(scram-sha-256), so the URIs the tests use carry real credentials.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN_DIR = Path(os.environ.get("LAKEHOUSE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
UNPRIVILEGED_USER = "nobody"
SUPERUSER = "lakehouse"
PASSWORD = "lakehouse-test-secret"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int

    def uri(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database (dropped first if a previous test left it); returns its URI."""
        # Imported here: every test process imports this module, few create a database (0.5 s).
        import adbc_driver_postgresql.dbapi as postgresql

        with postgresql.connect(self.uri()) as connection:
            connection.adbc_connection.set_autocommit(True)  # CREATE DATABASE refuses transactions
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)


def _binary(name: str) -> str:
    path = BIN_DIR / name
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"PostgreSQL server binary {path} is missing: the tests need the PostgreSQL 15 server "
            "(Debian/Ubuntu: apt-get install postgresql-15), or set LAKEHOUSE_TEST_PG_BIN to its bin folder"
        )
    return str(path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """Root may not run the server: drop to the unprivileged user (no PAM, no login shell)."""
    if os.geteuid() != 0:
        return command
    user = pwd.getpwnam(UNPRIVILEGED_USER)
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", *command]


def _run(command: list[str], cwd: Path, log: Path | None = None) -> None:
    done = subprocess.run(_as_server_user(command), cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        server_log = log.read_text() if log is not None and log.is_file() else ""
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{server_log}"
        )


def _workspace() -> Path:
    """A folder the server user owns, under the system temp dir (pytest's are root-only 0700)."""
    root = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(root, user.pw_uid, user.pw_gid)
    return root


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server; fails (never skips) when the binaries are missing."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    _binary("postgres")
    root = _workspace()
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    port = _free_port()
    try:
        password_file = root / "password"
        password_file.write_text(PASSWORD + "\n")
        os.chmod(password_file, 0o644)
        _run(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--no-locale",
                "--encoding=UTF8",
                "--no-sync",
            ],
            root,
        )
        _run(["mkdir", str(sockets)], root)
        # A throw-away server: no durability, and no autovacuum (its databases live minutes; under
        # the suite's load its launcher spun ~60 s of system CPU retrying workers, unseen by `time`).
        settings = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off"
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 {settings}"
        _run([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"], root, log)
        try:
            yield PostgresServer("127.0.0.1", port)
        finally:
            _run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URI of a new, empty shop database: a SQLite file, or a database on the test server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"test_{request.node.originalname}"[:63])
