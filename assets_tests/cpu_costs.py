"""`make test-costs`: the CPU each test costs, so the suite's budget is spent knowingly.

A pytest plugin (`-p assets_tests.cpu_costs`). Each worker records, per test, the CPU seconds of its
own process (every thread) and of the child processes it waited for, setup and teardown included
(so a shared fixture is charged to the first test that needs it; the session's teardown after a
worker's last test is a line of its own); the controller prints the costliest tests and the total
at the end. Wall seconds would say more about the machine's load; they are recorded too (`wall`, in
the files), to find tests that wait on neither CPU nor a child (sleeps, timeouts, a server's start).
Each run writes a folder of its own under `data/test-costs/` (`make clean` deletes them).
"""

from __future__ import annotations

import json
import os
import resource
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.settings import PROJECT_ROOT

COSTS_DIR = PROJECT_ROOT / "data" / "test-costs"
SHOWN = 25


def _cpu_seconds() -> tuple[float, float]:
    """This process's CPU seconds, and its descendants': those it waited for, and those still running.

    The running ones count as they work: a server started for the session (moto's), or `lakehouse
    bench`'s forkserver, whose forked steps it waits for itself, is waited for by the worker only at
    its exit, if ever (the bench's ~30 s of CPU were no test's). A daemon that left the process tree
    (PostgreSQL's, started by `pg_ctl`) is still counted nowhere.
    """
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime + _running_descendants()


TICKS = os.sysconf("SC_CLK_TCK")


def _running_descendants() -> float:
    """The CPU seconds so far of this process's running descendants, with those each waited for."""
    total, parents = 0.0, [os.getpid()]
    while parents:
        for listing in Path(f"/proc/{parents.pop()}/task").glob("*/children"):
            for pid in _read(listing).split():
                fields = _read(Path(f"/proc/{pid}/stat")).rpartition(")")[2].split()
                if fields:  # utime, stime, cutime, cstime: fields 14-17 of stat(5)
                    total += sum(int(f) for f in fields[11:15]) / TICKS
                    parents.append(int(pid))
    return total


def _read(path: Path) -> str:
    """The file's text, or nothing when its process has exited meanwhile."""
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _run_dir(config: pytest.Config) -> Path:
    """This run's folder, named by the run's id (the controller's, which xdist hands its workers):
    another run at the same time (of a few tests, say) keeps its own files."""
    workerinput = getattr(config, "workerinput", None)
    return COSTS_DIR / (workerinput["testrunuid"] if workerinput else config.option.testrunuid)


def _costs_file(config: pytest.Config) -> Path:
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    return _run_dir(config) / f"{worker}.jsonl"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist) names the run
        if not getattr(config.option, "testrunuid", None):
            config.option.testrunuid = uuid.uuid4().hex
        _run_dir(config).mkdir(parents=True, exist_ok=True)


# The last test's teardown on a worker also ends the session's fixtures: moto's server is a child
# process waited for then, so its CPU (seconds, for the requests of every test) would be that test's.
SESSION_END = pytest.StashKey[tuple[float, float, float]]()  # own, children, wall


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if nextitem is not None:
        yield
        return
    own, children = _cpu_seconds()
    started = time.monotonic()
    yield
    own_after, children_after = _cpu_seconds()
    item.stash[SESSION_END] = (own_after - own, children_after - children, time.monotonic() - started)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    own, children = _cpu_seconds()
    started = time.monotonic()
    yield
    wall = time.monotonic() - started
    own_after, children_after = _cpu_seconds()
    end = item.stash.get(SESSION_END, (0.0, 0.0, 0.0))
    _record(item, item.nodeid, own_after - own - end[0], children_after - children - end[1], wall - end[2])
    if SESSION_END in item.stash:
        _record(item, f"(session teardown after {item.nodeid}: servers' CPU)", *end)


def _record(item: pytest.Item, test: str, own: float, children: float, wall: float) -> None:
    with _costs_file(item.config).open("a") as out:
        out.write(json.dumps({"test": test, "own": own, "children": children, "wall": wall}) + "\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    run = _run_dir(config)
    costs = [json.loads(line) for path in run.glob("*.jsonl") for line in path.open()]
    costs.sort(key=lambda c: c["own"] + c["children"], reverse=True)
    total = sum(c["own"] + c["children"] for c in costs)
    terminalreporter.section(f"CPU seconds per test ({len(costs)} tests, {total:,.0f} s in all)")
    terminalreporter.write_line(f"{'own':>7} {'children':>9}  test (the {SHOWN} costliest)")
    for cost in costs[:SHOWN]:
        terminalreporter.write_line(f"{cost['own']:7.1f} {cost['children']:9.1f}  {cost['test']}")
    terminalreporter.write_line(f"(every test's: {run}/*.jsonl)")
