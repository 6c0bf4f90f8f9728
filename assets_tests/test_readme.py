"""The README's worked example of a declared source runs as written."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import dagster as dg
import yaml

from lakehouse.defs.raw.files import FileSet, build_raw_file_asset
from lakehouse.defs.refined.declared import declared_refined_table
from lakehouse.defs.refined.refine import build_refined_asset
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.settings import PROJECT_ROOT
from lakehouse.sources.declared import Declarations
from lakehouse.sources.landing import LandingZone


def example_blocks(fence: str) -> str:
    """The first block fenced as `fence` in the README's "Adding a source" section."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Adding a source", 1)[1].split("\n## ", 1)[0]
    return re.search(f"```{fence}\n(.*?)```", section, re.DOTALL).group(1)


def test_the_worked_example_declares_a_source_whose_files_land_and_refine(instance, tmp_path: Path):
    declarations = Declarations.model_validate(yaml.safe_load("files:\n" + example_blocks("yaml")))
    returns = FileSet("returns", declarations.files["returns"])
    folder = tmp_path / "landing" / "returns"
    folder.mkdir(parents=True)
    (folder / "returns_2025-06-01.csv").write_text(example_blocks("text"))
    store = DeltaStore(root=str(tmp_path / "tables"))

    result = dg.materialize(
        [
            build_raw_file_asset(returns),
            build_refined_asset(declared_refined_table("returns", returns.source)),
        ],
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
