"""`make test-costs`: the CPU each test costs, so the suite's budget is spent knowingly.

A pytest plugin (`-p assets_tests.cpu_costs`). Each worker records, per test, the CPU seconds of its
own process (every thread) and of the child processes it waited for, setup and teardown included
(so a shared fixture is charged to the first test that needs it; the session's teardown after a
worker's last test is a line of its own); the controller prints the costliest tests and the total
at the end. Wall seconds would say more about the machine's load.
"""

from __future__ import annotations

import json
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.settings import PROJECT_ROOT

COSTS_DIR = PROJECT_ROOT / "data" / "test-costs"
SHOWN = 25


def _cpu_seconds() -> tuple[float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _costs_file(config: pytest.Config) -> Path:
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    return COSTS_DIR / f"{worker}.jsonl"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) starts afresh
        COSTS_DIR.mkdir(parents=True, exist_ok=True)
        for old in COSTS_DIR.glob("*.jsonl"):
            old.unlink()


# The last test's teardown on a worker also ends the session's fixtures: moto's server is a child
# process waited for then, so its CPU (seconds, for the requests of every test) would be that test's.
SESSION_END = pytest.StashKey[tuple[float, float]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if nextitem is not None:
        yield
        return
    own, children = _cpu_seconds()
    yield
    own_after, children_after = _cpu_seconds()
    item.stash[SESSION_END] = (own_after - own, children_after - children)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    own, children = _cpu_seconds()
    yield
    own_after, children_after = _cpu_seconds()
    end_own, end_children = item.stash.get(SESSION_END, (0.0, 0.0))
    _record(item, item.nodeid, own_after - own - end_own, children_after - children - end_children)
    if SESSION_END in item.stash:
        _record(item, f"(session teardown after {item.nodeid}: servers' CPU)", end_own, end_children)


def _record(item: pytest.Item, test: str, own: float, children: float) -> None:
    with _costs_file(item.config).open("a") as out:
        out.write(json.dumps({"test": test, "own": own, "children": children}) + "\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    costs = [json.loads(line) for path in COSTS_DIR.glob("*.jsonl") for line in path.open()]
    costs.sort(key=lambda c: c["own"] + c["children"], reverse=True)
    total = sum(c["own"] + c["children"] for c in costs)
    terminalreporter.section(f"CPU seconds per test ({len(costs)} tests, {total:,.0f} s in all)")
    terminalreporter.write_line(f"{'own':>7} {'children':>9}  test (the {SHOWN} costliest)")
    for cost in costs[:SHOWN]:
        terminalreporter.write_line(f"{cost['own']:7.1f} {cost['children']:9.1f}  {cost['test']}")
    terminalreporter.write_line(f"(every test's: {COSTS_DIR}/*.jsonl)")
