"""Shared fixtures: one Dagster instance per session, and lakehouses built from the simulator.

Also assigns every test its tier (`unit`, `integration`, `e2e`) and xdist group (`tiers.py`), and
schedules the groups under `--dist loadgroup` (`xdist_groups.py`).

Dagster and the lakehouse are imported inside the functions that use them: xdist's controller loads
this file too, to schedule, and runs no test (importing them cost it ~2.4 s of CPU, and the workers
start only after it has loaded this file).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from assets_tests import tiers, xdist_groups
from assets_tests.build_cache import INSTANCE_CONFIG, cache_key, cached
from assets_tests.object_store import object_store  # noqa: F401 (a fixture for every test)
from assets_tests.postgres_server import empty_database, postgres_server  # noqa: F401 (fixtures for every test)

if TYPE_CHECKING:
    import dagster as dg

    from lakehouse.operations.runner import BuildOutcome
    from lakehouse.settings import Settings

# Settings come from the environment; tests must not pick up a developer's real sources.
for _variable in (
    "LAKEHOUSE_SHOP_DB_URI",
    "LAKEHOUSE_LANDING_DIR",
    "LAKEHOUSE_PII_KEY",
    "LAKEHOUSE_EXCHANGE_RATES_URL",
    "LAKEHOUSE_ALERT_WEBHOOK_URL",
    "LAKEHOUSE_CATALOG_STORAGE_VERSION",
    "LAKEHOUSE_TABLES_URI",
    "LAKEHOUSE_PROFILE",
    "LAKEHOUSE_DAGSTER_PG_URL",
):
    os.environ.pop(_variable, None)


@dataclass
class Lakehouse:
    """A lakehouse built end to end in its own data folder."""

    settings: Settings
    definitions: dg.Definitions
    manifest: dict[str, Any]
    outcome: BuildOutcome
    instance: dg.DagsterInstance | None = None  # the instance of its first build
    # What its last build left in the system's temporary folder (everything it writes belongs in
    # its data folder): the build ran with an empty one of its own (`own_temp_dir`)
    temp_left: list[str] = field(default_factory=list)

    def build(self, instance: dg.DagsterInstance) -> BuildOutcome:
        from lakehouse.operations.runner import run_build

        temp = self.settings.data_dir.with_name(f"{self.settings.data_dir.name}-temp")
        with own_temp_dir(temp):
            self.outcome = run_build(self.definitions, instance, echo=lambda _: None)
        self.temp_left = sorted(path.name for path in temp.iterdir())
        shutil.rmtree(temp)
        return self.outcome

    def advance(self, days: int = 1) -> None:
        from lakehouse import simulator

        self.manifest = simulator.advance(self.settings.sources_dir, days, db_uri=self.settings.shop_db_uri)


@contextmanager
def own_temp_dir(folder: Path) -> Iterator[None]:
    """The system's temporary folder is `folder` (made empty) for a while: for the libraries that
    read `TMPDIR` when they make a file, and for Python's `tempfile`, which reads it once."""
    folder.mkdir()
    before, cached = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(folder), None
    try:
        yield
    finally:
        tempfile.tempdir = cached
        if before is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = before


def build_lakehouse(
    data_dir: Path, instance: dg.DagsterInstance, *, scale: float, seed: int, days: int
) -> Lakehouse:
    from lakehouse import simulator
    from lakehouse.definitions import build_definitions
    from lakehouse.settings import get_settings

    settings = get_settings(data_dir)
    manifest = simulator.generate(settings.sources_dir, scale=scale, seed=seed, days=days)
    lakehouse = Lakehouse(settings, build_definitions(settings), manifest, None, instance)  # type: ignore[arg-type]
    lakehouse.build(instance)
    return lakehouse


# The cached build whose copies can carry its run history (`copy_of_home`), the month most tests copy.
# Only it is built through an on-disk instance, which costs more CPU than an ephemeral one (a build at
# 0.002/3/20, load 12: 12.4 s against 8.7 s).
MONTH = {"scale": 0.01, "seed": 42, "days": 30}


def _cached_build(*, scale: float, seed: int, days: int) -> tuple[Path, BuildOutcome]:
    """The cached build's data folder and outcome, built first if needed, through an instance of its
    own (never the caller's): for the `MONTH`, an on-disk one beside the data (`INSTANCE_CONFIG`)."""
    with_history = {"scale": scale, "seed": seed, "days": days} == MONTH

    def build(target: Path) -> BuildOutcome:
        with _builders_instance(target.parent, on_disk=with_history) as own:
            return build_lakehouse(target, own, scale=scale, seed=seed, days=days).outcome

    return cached(cache_key(scale=scale, seed=seed, days=days), build)


def _builders_instance(home: Path, *, on_disk: bool) -> AbstractContextManager[dg.DagsterInstance]:
    import dagster as dg

    from lakehouse.cli.instance import open_instance

    if not on_disk:
        return dg.DagsterInstance.ephemeral()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    return open_instance(home)


def _copied(
    source: Path, outcome: BuildOutcome, data_dir: Path, instance: dg.DagsterInstance | None
) -> Lakehouse:
    from lakehouse.definitions import build_definitions
    from lakehouse.settings import get_settings

    shutil.copytree(source, data_dir, dirs_exist_ok=True)
    settings = get_settings(data_dir)
    manifest = json.loads(settings.manifest_path.read_text())
    return Lakehouse(settings, build_definitions(settings), manifest, outcome, instance)


def copy_of_build(
    data_dir: Path, instance: dg.DagsterInstance, *, scale: float, seed: int, days: int
) -> Lakehouse:
    """A private copy of a cached build, for a test that changes the lakehouse.

    The first caller builds it; later ones, in any worker or run, copy it. The copy's `outcome` is its
    original build's, whose run is in the instance that built it, not in `instance`. Paths recorded in
    the data (raw rows' source files, the serving catalog's views) still name where it was built.
    """
    return _copied(*_cached_build(scale=scale, seed=seed, days=days), data_dir, instance)


def copy_of_home(root: Path) -> Lakehouse:
    """A copy of the cached `MONTH` with its run history: the lakehouse in `root/data`, the instance
    that built it in `root` (`open_instance(root)` opens it), and its catalog republished over its own
    tables (the SQL sandbox reads no other folder's)."""
    from lakehouse.serving import publish_catalog

    source, outcome = _cached_build(**MONTH)
    shutil.copy(source.parent / "dagster.yaml", root / "dagster.yaml")
    lakehouse = _copied(source, outcome, root / "data", None)
    publish_catalog(lakehouse.settings.tables_dir, lakehouse.settings.catalog_path)
    return lakehouse


def pytest_configure(config: pytest.Config) -> None:
    xdist_groups.name_the_run(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tiers.assign(items)
    xdist_groups.publish(config, items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> xdist_groups.GroupScheduling | None:
    return xdist_groups.GroupScheduling(config, log) if xdist_groups.is_controller(config) else None


def pytest_sessionfinish(session: pytest.Session) -> None:
    xdist_groups.forget(session.config)


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    """An ephemeral instance per test module (about 0.2 s to make).

    Not one per session: checks judge a table against the instance's history of it (a column-schema
    check against its previous materialisation, a key check only the files added since the version
    its last pass vouched for), and the copies of one cached build are the same tables (same ids,
    same versions) to the instance. A module that changed a copy would mislead another module's
    checks of its own copy, depending on which ran first on the worker.
    """
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as own:
        yield own


@pytest.fixture(scope="session")
def lakehouses_instance() -> Iterator[dg.DagsterInstance]:
    """The instance of the two session lakehouses, theirs alone (`Lakehouse.instance`).

    A table's column-schema check compares it with the table's previous materialisation in the
    instance: a shorter lakehouse (without the supplier's later `warehouse` column) or a test's small
    files materialised in the same instance would make their checks warn, depending on test order.
    """
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as own:
        yield own


@pytest.fixture(scope="session")
def lakehouse(tmp_path_factory: pytest.TempPathFactory, lakehouses_instance: dg.DagsterInstance) -> Lakehouse:
    """The demo lakehouse (scale 0.01, seed 42, a year), built once and only read by tests."""
    return build_lakehouse(
        tmp_path_factory.mktemp("demo"), lakehouses_instance, scale=0.01, seed=42, days=365
    )


@pytest.fixture(scope="session")
def second_lakehouse(
    tmp_path_factory: pytest.TempPathFactory, lakehouses_instance: dg.DagsterInstance
) -> Lakehouse:
    """Another scale and seed, so the ground-truth tests hold beyond one data set.

    Long enough to reach the supplier snapshots' `warehouse` column (from 2025-09-01): both lakehouses
    share one instance, whose column-schema checks would otherwise see a column vanish between them.
    """
    return build_lakehouse(
        tmp_path_factory.mktemp("second"), lakehouses_instance, scale=0.005, seed=7, days=250
    )


@pytest.fixture(params=["lakehouse", "second_lakehouse"], ids=["scale0.01-seed42", "scale0.005-seed7"])
def any_lakehouse(request: pytest.FixtureRequest) -> Lakehouse:
    return request.getfixturevalue(request.param)


@dataclass
class IncrementalBuilds:
    """A lakehouse built over 30 days then one more day (`incremental`), and one built over the
    31 days at once (`full`): the incremental one must hold what the full one holds."""

    incremental: Lakehouse
    full: Lakehouse


@pytest.fixture(scope="session")
def incremental_builds(tmp_path_factory: pytest.TempPathFactory) -> IncrementalBuilds:
    """The incremental one starts from a copy of the cached month (built once for many tests); the
    full one is a cached build too (only its tables are compared: ~12 s saved when the cache is warm).

    Built on an instance of their own: a month of history lacks the supplier snapshots' later
    `warehouse` column, which the shared instance's column-schema checks would then see vanish
    (a warning) when the demo lakehouse is built after them. Only read by tests."""
    import dagster as dg

    root = tmp_path_factory.mktemp("incremental_builds")
    with dg.DagsterInstance.ephemeral() as instance:
        incremental = copy_of_build(root / "incremental", instance, scale=0.01, seed=42, days=30)
        incremental.advance(1)
        assert incremental.build(instance).success
        full = copy_of_build(root / "full", instance, scale=0.01, seed=42, days=31)
    return IncrementalBuilds(incremental, full)
