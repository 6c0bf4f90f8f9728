from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assets_tests.build_cache import cached, code_hash
from lakehouse.simulator import generate


@pytest.fixture(scope="session")
def demo() -> Path:
    """The default demo simulation: scale 0.01, seed 42, 365 days. Only read by tests.

    Generated once into the test cache (keyed by the package's code) and shared by every xdist
    worker and later run, instead of once per worker."""
    out_dir, _ = cached(
        f"sources-scale0.01-seed42-days365-{code_hash()}",
        lambda target: generate(target, scale=0.01, seed=42, days=365),
    )
    return out_dir


@pytest.fixture(scope="session")
def demo_manifest(demo: Path) -> dict[str, Any]:
    return json.loads((demo / "manifest.json").read_text())
