"""Per-asset code versions: a hash of the transform's and the contract's source."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from lakehouse.lib.code_version import code_version

TABLES = """
import pandera.polars as pa
import polars as pl

from lakehouse.lib.quality.contract import Contract
from lakehouse.lib.spec import TableSpec


class AContract(Contract):
    id: pl.Int64 = pa.Field(nullable=False, description="The id.")


class BContract(Contract):
    id: pl.Int64 = pa.Field(nullable=False, description="The id.")


A = TableSpec(layer="curated", name="a", description="A.", contract=AContract, key=("id",))
B = TableSpec(layer="curated", name="b", description="B.", contract=BContract, key=("id",))


A_IDS = [pl.lit(1).alias("id")]


def ids_of_a() -> pl.DataFrame:
    return pl.select(A_IDS)


@A.asset(ins={})
def a() -> pl.DataFrame:
    return ids_of_a()


@B.asset(ins={})
def b() -> pl.DataFrame:
    return pl.DataFrame({"id": [2]})
"""


def load(path: Path, source: str) -> ModuleType:
    """Import `source` as a module from `path` (a fresh module each time)."""
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(f"versioned_{abs(hash(source))}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def versions(module: ModuleType) -> tuple[str, str]:
    return module.a.code_versions_by_key[module.a.key], module.b.code_versions_by_key[module.b.key]


def test_a_code_version_is_12_hex_digits_and_stable():
    version = code_version(code_version)

    assert len(version) == 12 and int(version, 16) >= 0
    assert code_version(code_version) == version


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('{"id": [2]}', '{"id": [2, 3]}', ["b"]),  # b's transform
        ("return pl.select(A_IDS)", "return pl.select(A_IDS).head(1)", ["a"]),  # a helper a calls
        ('pl.lit(1).alias("id")', 'pl.lit(4).alias("id")', ["a"]),  # an expression the helper reads
    ],
)
def test_changing_one_transform_changes_only_its_assets_code_version(
    tmp_path: Path, old: str, new: str, expected: list[str]
):
    before = versions(load(tmp_path / "before.py", TABLES))
    after = versions(load(tmp_path / "after.py", TABLES.replace(old, new)))

    changed = [name for name, b, c in zip("ab", before, after, strict=True) if b != c]
    assert changed == expected


def test_changing_a_contract_changes_its_assets_code_version(tmp_path: Path):
    before = versions(load(tmp_path / "before.py", TABLES))
    b_id = "class BContract(Contract):\n    id: pl.Int64 = pa.Field(nullable=False, "
    stricter = TABLES.replace(b_id, b_id + "gt=0, ")
    after = versions(load(tmp_path / "after.py", stricter))

    assert after == (before[0], after[1]) and after[1] != before[1]


def test_refined_tables_and_their_quarantine_share_the_transforms_version():
    from lakehouse.defs.refined.assets import refined_assets
    from lakehouse.defs.refined.customers import CUSTOMERS, CustomerContract, transform

    refine = next(a for a in refined_assets if CUSTOMERS.refined_key in a.keys)
    expected = code_version(transform, CustomerContract)

    assert refine.code_versions_by_key[CUSTOMERS.refined_key] == expected
    assert refine.code_versions_by_key[CUSTOMERS.quarantine_key] == expected
