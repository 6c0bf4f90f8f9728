from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lakehouse.simulator import generate


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo simulation: scale 0.01, seed 42, 365 days."""
    out_dir = tmp_path_factory.mktemp("demo")
    generate(out_dir, scale=0.01, seed=42, days=365)
    return out_dir


@pytest.fixture(scope="session")
def demo_manifest(demo: Path) -> dict[str, Any]:
    return json.loads((demo / "manifest.json").read_text())
