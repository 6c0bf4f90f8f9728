"""A real change to the source code, carried through `plan`, `plan --env`, `apply` and `env delete`
as a user would: the commands run in a process of their own over a copy of the package in which a
refined column is renamed (contract, transform and declared migration) and the downstream fact's
code reads it under its new name. Nothing of the checked-out package is edited."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse, copy_of_build
from lakehouse.lib.storage import delta_tables
from lakehouse.settings import PROJECT_ROOT

PAYMENTS, FACT, ORDERS = "refined/payments", "curated/fact_payments", "refined/orders"
# (file, text in the package, text in the changed copy): each must occur exactly once.
EDITS = [
    (
        "lakehouse/defs/refined/payments.py",
        '    method: pl.String = pa.Field(nullable=True, description="Payment method',
        '    payment_method: pl.String = pa.Field(nullable=True, description="Payment method',
    ),
    (
        "lakehouse/defs/refined/payments.py",
        '        trimmed("method").str.to_lowercase(),',
        '        trimmed("method").str.to_lowercase().alias("payment_method"),',
    ),
    (
        "lakehouse/defs/refined/payments.py",
        '    monitored_columns=("amount",),\n)',
        '    monitored_columns=("amount",),\n    derived_from={"payment_method": ("method",)},\n'
        '    migrations=({"rename": {"method": "payment_method"}},),\n)',
    ),
    (
        "lakehouse/defs/curated/facts.py",
        '    *map(pl.col, ["settled_at", "method", "currency", "amount", "usd_rate"]),',
        '    pl.col("settled_at"),\n    pl.col("payment_method").alias("method"),\n'
        '    *map(pl.col, ["currency", "amount", "usd_rate"]),',
    ),
]


# The commands, one after another in one process (each would spend seconds importing Dagster),
# each output after a separator line.
SEPARATOR = "=== next command ==="
RUN_COMMANDS = f"""
import json, sys
from lakehouse.cli import main
for args in json.loads(sys.argv[1]):
    print({SEPARATOR!r}, flush=True)
    main(args, standalone_mode=False)
"""


def lakehouse(project: Path, commands: list[list[str]]) -> list[str]:
    """The output of each `lakehouse COMMAND` run with the package of `project`, in a process of
    its own (stops at the first that fails)."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_COMMANDS, json.dumps(commands)],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split(SEPARATOR + "\n")[1:]


def changed_project(root: Path) -> Path:
    """A copy of the project's package and configuration with `EDITS` made."""
    shutil.copytree(
        PROJECT_ROOT / "lakehouse", root / "lakehouse", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    for file, old, new in EDITS:
        path = root / file
        text = path.read_text()
        assert text.count(old) == 1, f"{file}: the edit's anchor changed: {old!r}"
        path.write_text(text.replace(old, new))
    return root


@pytest.fixture
def built(tmp_path: Path, instance: dg.DagsterInstance) -> Lakehouse:
    return copy_of_build(tmp_path / "data", instance, scale=0.01, seed=42, days=30)


def test_a_renamed_refined_column_read_downstream_goes_through_plan_env_apply(
    built: Lakehouse, tmp_path: Path
):
    project = changed_project(tmp_path / "project")
    home = tmp_path / "home"
    home.mkdir()
    tables = built.settings.tables_dir

    group = ["--data-dir", str(built.settings.data_dir), "--dagster-home", str(home)]
    commands = [
        ["plan", "--env", "try"],
        ["apply", "--yes"],
        ["plan"],
        ["env", "list"],
        ["env", "delete", "try", "--yes"],
    ]
    fact_before = pl.read_delta(str(tables / FACT)).select(pl.exclude("^_.*$")).sort("payment_id")
    first, last = fact_before.get_column("settled_date").min(), fact_before.get_column("settled_date").max()
    days = (last - first).days + 1
    versions = {name: delta_tables.version(str(tables / name)) for name in (PAYMENTS, FACT, ORDERS)}

    planned, applied, replanned, listed, _ = lakehouse(project, [[*group, *c] for c in commands])

    assert f"refined.payments (version {versions[PAYMENTS]}): breaking for downstream" in planned
    assert (
        "  column renamed: method -> payment_method\n  migration: rename method -> payment_method" in planned
    )
    assert f"  rebuild partitions {first}..{last} ({days} days)" in planned
    assert "  upstream changed: refined.payments (breaking)\n  rebuild the whole table" in planned  # dim_date
    assert "4 tables affected: 1 migrated, 3 rebuilt." in planned
    for table in ("refined.payments", "curated.dim_date", "curated.fact_payments"):  # the env against main
        assert f"{table} version 0 -> 0: 0 rows added, 0 removed, 0 changed\n" in planned  # rename followed
    # the environment wrote none of main's tables: the apply's commits are all they have since
    after = {name: delta_tables.version(str(tables / name)) for name in versions}
    assert after == {PAYMENTS: versions[PAYMENTS] + 1, FACT: versions[FACT] + 1, ORDERS: versions[ORDERS]}

    payments = pl.read_delta(str(tables / PAYMENTS))
    assert "method" not in payments.columns and "payment_method" in payments.columns  # no stale column
    assert payments.get_column("payment_method").null_count() < payments.height
    fact_after = pl.read_delta(str(tables / FACT)).select(pl.exclude("^_.*$")).sort("payment_id")
    assert fact_after.equals(fact_before)
    assert "curated.fact_payments version" in applied and "apply " in applied
    assert replanned.startswith("No changes")
    assert listed.startswith("try  6 own tables, 38 linked to main")
    assert (
        not built.settings.environment("try").data_dir.exists()
        and (tables / "refined" / "orders" / "_delta_log").is_dir()
    )
