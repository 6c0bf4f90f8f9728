"""The command line's fixtures: commands against the session's demo lakehouse (read only), and
against `home`, a lakehouse whose runs are recorded in an instance on disk, as `lakehouse run` does.

Every command gets its folders as options (`--data-dir`, `--dagster-home`), as a user may give them.
"""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandera  # noqa: F401 (its first import sets SPARK_LOCAL_IP and PYARROW_IGNORE_TIMEZONE: not a command's change)
import polars as pl
import pytest
from click.testing import CliRunner, Result

from assets_tests.build_cache import INSTANCE_CONFIG  # noqa: F401 (the instance tests' config)
from assets_tests.conftest import Lakehouse, copy_of_home
from lakehouse.cli import main
from lakehouse.serving import publish_catalog
from lakehouse.simulator import CLICKSTREAM_DEFECTS_FILE, DEFECTS_FILE, INVENTORY_DEFECTS_FILE

Invoke = Callable[..., Result]


def invoker(*group_args: str) -> Invoke:
    """`lakehouse GROUP_ARGS ARGS…`, in this process; an unexpected exception fails the test, and so
    does a command that leaves the process's environment or working directory changed: what the
    group resolves it passes down, nothing is pinned for later (every command the tests run proves it).
    """

    def invoke(*args: str) -> Result:
        environ, cwd = dict(os.environ), Path.cwd()
        result = CliRunner().invoke(main, [*group_args, *args], catch_exceptions=False)
        assert dict(os.environ) == environ, ("the command changed the environment", args)
        assert Path.cwd() == cwd, ("the command changed the working directory", args)
        return result

    return invoke


@pytest.fixture
def cli(lakehouse: Lakehouse) -> Invoke:
    return invoker("--data-dir", str(lakehouse.settings.data_dir))


@pytest.fixture(scope="package")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Lakehouse]:
    """A lakehouse whose run is recorded in an instance of its own, in its folder's `data/dagster`
    (a copy of the cached month, with the instance that built it); only read (commands that change
    it run on a copy: `home_copy`).

    (The session's instance is in memory: a command cannot open it.)
    """
    root = tmp_path_factory.mktemp("home")
    return root, copy_of_home(root)


def home_invoker(root: Path) -> Invoke:
    """Commands against the lakehouse in `root/data` whose runs are recorded in `root`'s instance."""
    return invoker("--data-dir", str(root / "data"), "--dagster-home", str(root))


@pytest.fixture
def home_cli(home: tuple[Path, Lakehouse], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Commands against `home`, started from an unrelated working directory (`tmp_path`)."""
    monkeypatch.chdir(tmp_path)
    return home_invoker(home[0])


@pytest.fixture
def home_copy(home: tuple[Path, Lakehouse], tmp_path: Path) -> Path:
    """A copy of `home` (tables, sources and run history) of the test's own, for commands that change it;
    its catalog republished, over its own tables (the SQL sandbox reads no other folder's)."""
    copy = shutil.copytree(home[0], tmp_path / "home")
    publish_catalog(copy / "data" / "tables", copy / "data" / "lakehouse.duckdb")
    return copy


def quarantine_defects(built: Lakehouse) -> pl.DataFrame:
    """Every defect the simulator planted that the lakehouse quarantines: records and whole files."""
    sources = built.settings.sources_dir
    defects = pl.read_parquet(
        [sources / DEFECTS_FILE, sources / CLICKSTREAM_DEFECTS_FILE, sources / INVENTORY_DEFECTS_FILE]
    )
    return defects.filter(pl.col("handling") == "quarantine")
