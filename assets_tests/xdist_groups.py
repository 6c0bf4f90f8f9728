"""`--dist loadgroup` that works with pytest 9.2: tests of one `xdist_group` go to one worker.

xdist 3.8 passes a test's group from worker to controller by appending `@group` to the test's node
id, which pytest 9.2 no longer lets it change (pytest-xdist issue #1386, fix pending): the groups
are silently ignored, and every worker builds every shared lakehouse. Until that is fixed, the
workers write each grouped test's group to a file named after the test run, and the controller's
scheduler (xdist's own scope scheduler) reads its scopes from there.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling


def groups_file(testrunuid: str) -> Path:
    return Path(tempfile.gettempdir()) / f"lakehouse-test-groups-{testrunuid}.json"


def is_controller(config: pytest.Config) -> bool:
    """Whether this process distributes tests to xdist workers by group."""
    distributes = config.getoption("dist", "no") == "loadgroup" and bool(config.getoption("tx", None))
    return distributes and not hasattr(config, "workerinput")


def name_the_run(config: pytest.Config) -> None:
    """On the controller: fix the test run's id, which the workers receive, before they start."""
    if is_controller(config) and not config.option.testrunuid:
        config.option.testrunuid = uuid.uuid4().hex


def publish(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker: write the group of every grouped test (each worker writes the same file)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return
    groups = {}
    for item in items:
        names = sorted({str(mark.args[0]) for mark in item.iter_markers("xdist_group")})
        if names:
            groups[item.nodeid] = "+".join(names)
    path = groups_file(workerinput["testrunuid"])
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(groups))
    partial.replace(path)


def forget(config: pytest.Config) -> None:
    """On the controller, at the end: delete the run's groups file."""
    if is_controller(config):
        groups_file(config.option.testrunuid).unlink(missing_ok=True)


class GroupScheduling(LoadScopeScheduling):
    """xdist's scope scheduler with a test's scope its group (or the test alone when it has none).

    Scopes are asked for once every worker has collected, so the file is written by then.
    """

    _groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:
            self._groups = json.loads(groups_file(self.config.option.testrunuid).read_text())
        return self._groups.get(nodeid, nodeid)
