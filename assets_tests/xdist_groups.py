"""`--dist loadgroup` that works with pytest 9.2: tests of one `xdist_group` go to one worker.

xdist 3.8 passes a test's group from worker to controller by appending `@group` to the test's node
id, which pytest 9.2 no longer lets it change (pytest-xdist issue #1386, fix pending): the groups
are silently ignored, and every worker builds every shared lakehouse. Until that is fixed, the
workers write each grouped test's group to a file named after the test run, and the controller's
scheduler (xdist's own scope scheduler) reads its scopes from there.

The same file names the e2e tests: the scheduler hands those out first (longest work first), so
that the quick unit and integration tests fill the workers' gaps at the end instead of one whole
build starting last and running alone.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

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
    e2e = [item.nodeid for item in items if item.get_closest_marker("e2e")]
    path = groups_file(workerinput["testrunuid"])
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps({"groups": groups, "e2e": e2e}))
    partial.replace(path)


def forget(config: pytest.Config) -> None:
    """On the controller, at the end: delete the run's groups file."""
    if is_controller(config):
        groups_file(config.option.testrunuid).unlink(missing_ok=True)


class GroupScheduling(LoadScopeScheduling):
    """xdist's scope scheduler with a test's scope its group (or the test alone when it has none),
    and the scopes holding e2e tests handed out before the others.

    Scopes are asked for once every worker has collected, so the file is written by then.
    """

    _published: dict[str, Any] | None = None

    @property
    def published(self) -> dict[str, Any]:
        if self._published is None:
            self._published = json.loads(groups_file(self.config.option.testrunuid).read_text())
        return self._published

    def _split_scope(self, nodeid: str) -> str:
        return self.published["groups"].get(nodeid, nodeid)

    def schedule(self) -> None:
        first_time = self.collection is None
        super().schedule()  # orders the scopes by their number of tests, and starts the first ones
        if first_time and self.collection:
            e2e = set(self.published["e2e"])
            scopes = sorted(self.workqueue.items(), key=lambda scope: e2e.isdisjoint(scope[1]))
            self.workqueue.clear()
            self.workqueue.update(scopes)
