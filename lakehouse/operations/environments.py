"""Isolated environments: try a change on real data while the main environment keeps serving.

`lakehouse plan --env NAME` builds the tables a change affects (those the plan migrates or
rebuilds) with the code as it is now, into `<data>/envs/NAME/tables`, with a catalog of its own.
Every other table is a symbolic link to the main environment's folder: read where it is, never
copied, and never written, since the environment's run materialises only its own tables (and its
own audit log and quality metrics). Its tables start empty, so each is built whole from its
inputs (an SCD2 dimension from the refined rows, without the main one's history).

Each table built is then compared with the main environment's by key (see `diff`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from lakehouse.defs.serving.catalog import CATALOG
from lakehouse.lib.storage import delta_tables
from lakehouse.operations.diff import TableDiff, compare
from lakehouse.operations.plan import DeclaredTable, Plan, make_plan
from lakehouse.operations.runner import run_build
from lakehouse.settings import Settings

Echo = Callable[[str], None]


class EnvironmentError(RuntimeError):
    """An environment build that failed, with the reason."""


@dataclass(frozen=True)
class EnvironmentBuild:
    name: str
    settings: Settings
    plan: Plan
    built: list[str]
    diffs: list[TableDiff]


def prepare(main: Settings, env: Settings, declared: list[DeclaredTable], own: set[str]) -> None:
    """The environment's tables folder: `own` tables absent (built afresh), every other table of
    the main environment linked to its folder there."""
    for table in declared:
        path = Path(env.tables_dir, *table.key.split("/"))
        if path.is_symlink():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
        source = Path(main.tables_dir, *table.key.split("/"))
        if table.key not in own and source.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(source, target_is_directory=True)


def build(
    main: Settings,
    name: str,
    definitions: Callable[[Settings], dg.Definitions],
    declared: list[DeclaredTable],
    instance: dg.DagsterInstance,
    echo: Echo,
) -> EnvironmentBuild:
    """Build the tables the plan against main affects into environment `name`, and diff them."""
    env = main.environment(name)
    plan = make_plan(main.tables_dir, declared)
    own = {t.table for t in plan.tables}
    prepare(main, env, declared, own)
    if own:
        selection = [dg.AssetKey.from_user_string(t) for t in sorted(own)] + [CATALOG]
        outcome = run_build(definitions(env), instance, echo, selection)
        if not outcome.success:
            failed = [f"{c.asset} {c.check}" for c in outcome.checks if not c.passed and not c.warned]
            raise EnvironmentError(
                f"the build of environment {name} failed (run {outcome.run_id})"
                + (f"; failed checks: {', '.join(failed)}" if failed else "")
            )
    keys = {t.key: t.row_key for t in declared}
    diffs = [_diff(main, env, table, keys[table]) for table in sorted(own) if keys.get(table)]
    return EnvironmentBuild(name, env, plan, sorted(own), [d for d in diffs if d is not None])


def _diff(main: Settings, env: Settings, table: str, key: tuple[str, ...]) -> TableDiff | None:
    """The environment's table against the main one's (None: not in main yet)."""
    ours, theirs = (str(Path(s.tables_dir, *table.split("/"))) for s in (env, main))
    if not delta_tables.exists(theirs):
        return None
    before, after = delta_tables.version(theirs), delta_tables.version(ours)
    return compare(delta_tables.scan(theirs), delta_tables.scan(ours), table, key, before, after)
