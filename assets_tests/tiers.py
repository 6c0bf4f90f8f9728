"""Every test in exactly one tier, assigned by what it uses, and grouped so xdist builds each lakehouse once.

- `e2e`: uses whole built lakehouses (a session build, or `build_lakehouse` / `copy_of_build`
  called by the test or by a fixture of its module or of a conftest.py), or is marked `e2e`
  explicitly (the `lakehouse` command in a fresh process).
- `integration`: the Dagster instance or a Dagster run, files on disk (Delta tables, simulated
  sources), a server (a fixture of those, or the test's own code naming them).
- `unit`: the rest, in memory.

`make test-fast` runs all but e2e. Under `--dist loadgroup` each session build is the xdist group of
the tests using it (one worker builds it, two build the two at once); other e2e tests are grouped
by the file defining the building fixture they use (a conftest.py, or their module), or by their
module when they use its fixtures, so those fixtures build once (a test using building fixtures of
two files joins both files' groups into one). The other tests using a session's server (moto's S3,
PostgreSQL) are the group of that server, so one worker starts it (~2 s of CPU and seconds of
wall each); all other tests spread over the workers one by one.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

TIERS = ("unit", "integration", "e2e")
# The session-scoped builds of the root conftest: a test using one is in its xdist group, so the two
# builds (and their tests) run on two workers at once. `any_lakehouse` is the one its parameter names.
SESSION_BUILDS = {"lakehouse", "second_lakehouse", "any_lakehouse"}
BUILD_FUNCTIONS = {"build_lakehouse", "copy_of_build", "copy_of_home"}  # of the root conftest
INTEGRATION_FIXTURES = {
    "instance",
    "postgres_server",
    "object_store",
    "empty_database",
    "tmp_path",
    "tmp_path_factory",
    "demo",  # the simulated sources on disk (simulator/conftest.py)
}
# The session fixtures starting a server, by the server's name: the unit and integration tests using
# one are its xdist group (`empty_database` starts PostgreSQL for its `postgresql` parameter).
SERVERS = {
    "object_store": "object_store",
    "postgres_server": "postgres_server",
    "empty_database": "postgres_server",
}
# Names whose use in a test's own code makes it integration: a server, a Dagster run or instance.
INTEGRATION_NAMES = {"ExchangeRateServer", "materialize", "DagsterInstance"}


def tiers_of(item: pytest.Item) -> list[str]:
    return [mark.name for mark in item.iter_markers() if mark.name in TIERS]


def _names(function: object) -> set[str]:
    """The global and attribute names the function's own code uses."""
    code = getattr(inspect.unwrap(function), "__code__", None)  # type: ignore[arg-type]
    return set(code.co_names) if code is not None else set()


def _calls_build(function: object) -> bool:
    return not BUILD_FUNCTIONS.isdisjoint(_names(function))


# Per folder, its conftest modules: looked up once, not for each of the ~1,000 tests (2 s a worker).
_CONFTESTS = pytest.StashKey[dict[Path, list[object]]]()


def _conftests(config: pytest.Config, folder: Path) -> list[object]:
    """The conftest.py modules of `folder` and the folders above it, the nearest first."""
    cache = config.stash.setdefault(_CONFTESTS, {})
    if folder not in cache:
        cache[folder] = sorted(
            (
                plugin
                for plugin in config.pluginmanager.get_plugins()
                if Path(getattr(plugin, "__file__", "") or "/").name == "conftest.py"
                and folder.is_relative_to(Path(plugin.__file__).parent)
            ),
            key=lambda plugin: -len(Path(plugin.__file__).parts),
        )
    return cache[folder]


def fixture_sources(item: pytest.Item) -> list[tuple[Path, object]]:
    """(defining file, fixture function) of each fixture the test uses that its own module or a
    conftest.py of its folders (the root's included) defines, the nearest definition first."""
    if not isinstance(item, pytest.Function):
        return []
    conftests = _conftests(item.config, item.path.parent)
    found = []
    for name in item.fixturenames:
        for where in (item.module, *conftests):
            fixture = getattr(where, name, None)
            if fixture is not None:
                found.append((Path(where.__file__), fixture))
                break
    return found


def building_fixture_files(item: pytest.Item) -> list[Path]:
    """The files defining the fixtures the test uses that build a lakehouse or copy a build."""
    return [where for where, fixture in fixture_sources(item) if _calls_build(fixture)]


def builds_lakehouses(item: pytest.Item) -> bool:
    """Whether the test, or a fixture it uses, builds a lakehouse or copies a build."""
    if not isinstance(item, pytest.Function):
        return False
    return _calls_build(item.function) or bool(building_fixture_files(item))


def tier(item: pytest.Item) -> str:
    fixtures = set(getattr(item, "fixturenames", ()))
    if fixtures & SESSION_BUILDS or builds_lakehouses(item):
        return "e2e"
    uses = _names(item.function) if isinstance(item, pytest.Function) else set()
    return "integration" if fixtures & INTEGRATION_FIXTURES or uses & INTEGRATION_NAMES else "unit"


def session_builds(item: pytest.Item) -> list[str]:
    """The session builds the test uses (`any_lakehouse`: the one of its parameter)."""
    fixtures = set(getattr(item, "fixturenames", ())) & SESSION_BUILDS
    if "any_lakehouse" in fixtures:
        fixtures = (fixtures - {"any_lakehouse"}) | {item.callspec.params["any_lakehouse"]}  # type: ignore[attr-defined]
    return sorted(fixtures)


def group_files(item: pytest.Item) -> list[str]:
    """The files whose fixtures an e2e test shares with others (by which it is grouped): those defining
    the building fixtures it uses (a conftest.py, or its module), or its module when it uses fixtures
    of its module."""
    if "e2e" not in tiers_of(item):
        return []
    own = [where for where, _ in fixture_sources(item) if where == item.path]
    files = building_fixture_files(item) or own
    return sorted({str(path.relative_to(item.config.rootpath)) for path in files})


def servers(item: pytest.Item) -> str:
    """The servers a test that builds nothing starts (`SERVERS`), joined: its xdist group, if any."""
    if "e2e" in tiers_of(item):
        return ""
    return "+".join(sorted({SERVERS[name] for name in getattr(item, "fixturenames", ()) if name in SERVERS}))


def xdist_groups(items: list[pytest.Item]) -> dict[pytest.Item, str]:
    """Each grouped test's xdist group: its session builds, or else the files of `group_files`, joined
    with every file a test shares with them (a test using building fixtures of two files puts both
    files' tests on one worker, so that neither fixture is built on two), or else its `servers`."""
    joined: dict[str, str] = {}  # file -> a file of its group (union-find)

    def root(file: str) -> str:
        while joined.setdefault(file, file) != file:
            file = joined[file]
        return file

    files = {item: group_files(item) for item in items if not session_builds(item)}
    for shared in files.values():
        for file in shared:
            joined[root(file)] = root(shared[0])
    members: dict[str, list[str]] = {}
    for file in list(joined):
        members.setdefault(root(file), []).append(file)
    groups = {item: "+".join(session_builds(item)) for item in items if session_builds(item)}
    for item, shared in files.items():
        if shared:
            groups[item] = "+".join(sorted(members[root(shared[0])]))
        elif servers(item):
            groups[item] = servers(item)
    return groups


def assign(items: list[pytest.Item]) -> None:
    """Mark each item with its tier (unless marked explicitly) and its xdist group."""
    for item in items:
        explicit = tiers_of(item)
        if len(explicit) > 1:
            raise pytest.UsageError(f"{item.nodeid} is marked with more than one tier: {explicit}")
        if not explicit:
            item.add_marker(tier(item))
    for item, group in xdist_groups(items).items():
        item.add_marker(pytest.mark.xdist_group(group))
