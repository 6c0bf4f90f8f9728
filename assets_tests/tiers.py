"""Every test in exactly one tier, assigned by what it uses, and grouped so xdist builds each lakehouse once.

- `e2e`: uses whole built lakehouses (a session build, or `build_lakehouse` / `copy_of_build`
  called by the test or by a fixture of its module), or is marked `e2e` explicitly (the
  `lakehouse` command in a fresh process).
- `integration`: the Dagster instance or a Dagster run, files on disk (Delta tables, simulated
  sources), a server (a fixture of those, or the test's own code naming them).
- `unit`: the rest, in memory.

`make test-fast` runs all but e2e. Under `--dist loadgroup` the tests of one session build share an
xdist group (one worker builds it), and e2e tests that use fixtures of their module are grouped by
module, so those fixtures build once; other tests spread over the workers one by one.
"""

from __future__ import annotations

import inspect

import pytest

TIERS = ("unit", "integration", "e2e")
# The session-scoped builds of the root conftest, and the xdist group of the tests that use them.
SESSION_BUILDS = {"lakehouse": "lakehouse", "second_lakehouse": "lakehouse", "any_lakehouse": "lakehouse"}
BUILD_FUNCTIONS = {"build_lakehouse", "copy_of_build"}  # of the root conftest
INTEGRATION_FIXTURES = {"instance", "postgres_server", "empty_database", "tmp_path", "tmp_path_factory"}
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


def module_fixtures(item: pytest.Item) -> list[object]:
    """The fixtures the test uses that its own module defines."""
    if not isinstance(item, pytest.Function):
        return []
    found = (getattr(item.module, name, None) for name in item.fixturenames)
    return [fixture for fixture in found if fixture is not None]


def builds_lakehouses(item: pytest.Item) -> bool:
    """Whether the test, or a fixture of its own module it uses, builds a lakehouse or copies a build."""
    if not isinstance(item, pytest.Function):
        return False
    return _calls_build(item.function) or any(_calls_build(f) for f in module_fixtures(item))


def tier(item: pytest.Item) -> str:
    fixtures = set(getattr(item, "fixturenames", ()))
    if fixtures & SESSION_BUILDS.keys() or builds_lakehouses(item):
        return "e2e"
    uses = _names(item.function) if isinstance(item, pytest.Function) else set()
    return "integration" if fixtures & INTEGRATION_FIXTURES or uses & INTEGRATION_NAMES else "unit"


def xdist_group(item: pytest.Item) -> str | None:
    fixtures = set(getattr(item, "fixturenames", ()))
    sessions = sorted({SESSION_BUILDS[name] for name in fixtures & SESSION_BUILDS.keys()})
    if sessions:
        return "+".join(sessions)
    if "e2e" in tiers_of(item) and module_fixtures(item):  # built once per module, on one worker
        return item.nodeid.split("::")[0]
    return None


def assign(items: list[pytest.Item]) -> None:
    """Mark each item with its tier (unless marked explicitly) and its xdist group."""
    for item in items:
        explicit = tiers_of(item)
        if len(explicit) > 1:
            raise pytest.UsageError(f"{item.nodeid} is marked with more than one tier: {explicit}")
        if not explicit:
            item.add_marker(tier(item))
        group = xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
