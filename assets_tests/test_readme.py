"""The README's worked example of a declared source runs as written: scaffolded by `dg scaffold
defs`, its `defs.yaml` filled in, loaded as `dg` loads it, its files landed and refined."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import dagster as dg
from dagster.components.testing import create_defs_folder_sandbox

import lakehouse.components
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.settings import PROJECT_ROOT
from lakehouse.sources.landing import LandingZone


def example_block(fence: str) -> str:
    """The first block fenced as `fence` in the README's "Adding a source" section."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Adding a source", 1)[1].split("\n## ", 1)[0]
    return re.search(f"```{fence}\n(.*?)```", section, re.DOTALL).group(1)


def test_the_worked_example_declares_a_source_whose_files_land_and_refine(instance, tmp_path: Path):
    program, scaffold, defs, type_name, defs_path = example_block("shell").split()
    assert (program, scaffold, defs) == ("dg", "scaffold", "defs")
    component_type = getattr(lakehouse.components, type_name.removeprefix("lakehouse.components."))
    folder = tmp_path / "landing" / "returns"
    folder.mkdir(parents=True)
    (folder / "returns_2025-06-01.csv").write_text(example_block("text"))
    store = DeltaStore(root=str(tmp_path / "tables"))

    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=component_type, defs_path=defs_path)
        (path / "defs.yaml").write_text(example_block("yaml"))
        with sandbox.build_all_defs() as defs:
            assets = list(defs.assets)
    result = dg.materialize(
        assets,
        instance=instance,
        resources={
            "landing": LandingZone(root=str(tmp_path / "landing")),
            "store": store,
            "io_manager": DeltaIOManager(store=store),
            "pseudonymiser": Pseudonymiser(key="k"),
        },
    )

    assert result.success
    refined = store.scan(["refined", "returns"]).collect()
    assert refined.select("return_id", "order_id", "refund").rows() == [("r-1", 1001, Decimal("19.90"))]
    quarantined = store.scan(["quarantine", "returns"]).collect()
    assert quarantined.select("return_id", "_rules").rows() == [
        ("r-2", ["refund:greater_than_or_equal_to(0)"])
    ]


# The README's names of jobs, schedules and sensors (`<name>_sensor`, `build_lakehouse`, …); the
# worked example's `returns_sensor` exists only once its source is declared.
ORCHESTRATION_NAME = re.compile(r"`([a-z_]+_(?:sensor|schedule|automation|lakehouse|build|maintenance))`")
EXAMPLE_ONLY = {"returns_sensor"}


def test_every_job_schedule_and_sensor_the_readme_names_exists(tmp_path: Path):
    from lakehouse.definitions import build_definitions
    from lakehouse.settings import get_settings

    defs = build_definitions(get_settings(tmp_path))
    defined = {
        *(job.name for job in defs.resolve_all_job_defs()),
        *(schedule.name for schedule in defs.schedules or []),
        *(sensor.name for sensor in defs.sensors or []),
    }
    named = set(ORCHESTRATION_NAME.findall((PROJECT_ROOT / "README.md").read_text())) - EXAMPLE_ONLY

    assert len(named) >= 8
    assert named - defined == set()
