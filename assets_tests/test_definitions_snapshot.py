"""The wiring of every asset, held to a committed snapshot: drift fails here without building anything.

For each asset: key, group, dependencies, kinds, owners, code version and metadata keys, as
`lakehouse.definitions.defs` declares them. After an intended change, regenerate the snapshot and
commit it with the change:

    LAKEHOUSE_UPDATE_SNAPSHOT=1 .venv/bin/pytest assets_tests/test_definitions_snapshot.py
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from lakehouse.definitions import default_definitions

defs = default_definitions()

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_wiring.json"
UPDATE_VARIABLE = "LAKEHOUSE_UPDATE_SNAPSHOT"


def wiring() -> dict[str, dict[str, Any]]:
    """Every asset's wiring, by asset key, in a stable order."""
    return {
        spec.key.to_user_string(): {
            "group": spec.group_name,
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
            "kinds": sorted(spec.kinds),
            "owners": sorted(spec.owners),
            "code_version": spec.code_version,
            "metadata_keys": sorted(spec.metadata),
        }
        for spec in sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string())
    }


def as_text(snapshot: dict[str, dict[str, Any]]) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True) + "\n"


def test_every_assets_wiring_is_the_committed_snapshot():
    current = as_text(wiring())
    if os.environ.get(UPDATE_VARIABLE):
        SNAPSHOT.write_text(current)
    committed = SNAPSHOT.read_text() if SNAPSHOT.is_file() else ""

    if current != committed:
        diff = difflib.unified_diff(
            committed.splitlines(), current.splitlines(), str(SNAPSHOT), "the definitions now", lineterm=""
        )
        pytest.fail(
            "the asset wiring differs from the committed snapshot (- snapshot, + now); if intended, "
            f"regenerate it with {UPDATE_VARIABLE}=1 and commit it:\n" + "\n".join(diff),
            pytrace=False,
        )


def test_every_run_the_daemon_or_the_ui_launches_runs_in_process_by_default():
    """Dagster's own default is a process per step, seconds each on a small machine: every job,
    the asset job behind the UI's *Materialize* and the sensors' asset selections, and the schedules'
    jobs take the definitions' executor, in process unless `LAKEHOUSE_EXECUTOR` says otherwise."""
    repository = defs.get_repository_def()
    executors = {job.name: job.executor_def.name for job in repository.get_all_jobs()}
    assert set(executors.values()) == {"in_process"}
    assert "__ASSET_JOB" in executors  # the UI's Materialize and the sensors' asset selections
    assert {schedule.job_name for schedule in repository.schedule_defs} <= executors.keys()
