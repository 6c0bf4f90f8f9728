from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tables_dir(tmp_path: Path) -> Path:
    return tmp_path / "tables"


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse.duckdb"
