"""Isolated environments: try a change on real data while the main environment keeps serving.

`lakehouse plan --env NAME` builds the tables a change affects (those the plan migrates or
rebuilds) with the code as it is now, into `<data>/envs/NAME/tables`, with a catalog of its own.
Every other table is a symbolic link to the main environment's folder: read where it is, never
copied, and never written, since the environment's run materialises only its own tables (and its
own audit log and quality metrics).

A table the plan rebuilds whole starts empty and is built from its inputs. One it cannot (an
SCD2 dimension, whose history no input holds; a merge or append table) starts as a zero-copy
clone of main's: its data files hard-linked (Delta never rewrites a data file, and the
environment's writes make new ones, so main's are never changed), its log copied; the declared
migration then runs on the clone, and the build continues its history as `apply` would.

Each table built is then compared with the main environment's by key (see `diff`), renamed
columns compared under their new names. `lakehouse env list` shows the environments and `lakehouse
env delete NAME` removes one (its own folder only: main's tables are linked, never owned).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from lakehouse.defs.serving.catalog import CATALOG
from lakehouse.lib.storage import delta_tables, migrations
from lakehouse.lib.storage.location import is_remote
from lakehouse.operations.diff import TableDiff, compare
from lakehouse.operations.plan import DeclaredTable, Plan, make_plan
from lakehouse.operations.runner import run_build
from lakehouse.settings import Settings

Echo = Callable[[str], None]
ENVS_DIR = "envs"


class EnvironmentError(RuntimeError):
    """An environment build that failed, with the reason."""


@dataclass(frozen=True)
class EnvironmentBuild:
    name: str
    settings: Settings
    plan: Plan
    built: list[str]
    diffs: list[TableDiff]


def prepare(main: Settings, env: Settings, declared: list[DeclaredTable], plan: Plan) -> None:
    """The environment's tables folder: the plan's tables rebuilt whole absent (built afresh), the
    others it changes cloned from main (`clone`), every other table of main linked there."""
    own = {t.table: t for t in plan.tables}
    for table in declared:
        path = Path(env.tables_dir, *table.key.split("/"))
        if path.is_symlink():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
        source = Path(main.tables_dir, *table.key.split("/"))
        if not source.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if table.key not in own:
            path.symlink_to(source, target_is_directory=True)
        elif not own[table.key].whole:
            clone(source, path)


def clone(source: Path, target: Path) -> None:
    """A zero-copy clone of a Delta table: data files hard-linked (copied across file systems),
    the log copied (small, and a checkpoint pointer is rewritten in place)."""
    for file in sorted(source.rglob("*")):
        copy = target / file.relative_to(source)
        if file.is_dir():
            copy.mkdir(parents=True, exist_ok=True)
        elif "_delta_log" in file.relative_to(source).parts:
            shutil.copy2(file, copy)
        else:
            try:
                os.link(file, copy)
            except OSError:  # another file system: no hard link
                shutil.copy2(file, copy)


@dataclass(frozen=True)
class EnvironmentSummary:
    own: int  # tables built or cloned in it
    linked: int  # main's tables it reads through a link
    bytes: int  # of its own files (a hard-linked file counts: it is main's too)


def summary(folder: Path) -> EnvironmentSummary:
    """What environment `folder` holds (links are counted, never followed)."""
    tables = [p for p in (folder / "tables").glob("*/*") if p.is_symlink() or (p / "_delta_log").is_dir()]
    linked = sum(1 for p in tables if p.is_symlink())
    size = sum(f.stat().st_size for t in tables if not t.is_symlink() for f in t.rglob("*") if f.is_file())
    return EnvironmentSummary(len(tables) - linked, linked, size)


def environments(main: Settings) -> list[Path]:
    """The environments' folders, by name."""
    return sorted(p for p in (main.data_dir / ENVS_DIR).glob("*") if p.is_dir())


def delete(main: Settings, name: str) -> Path:
    """Remove environment `name`: its folder, with its own tables and catalog; main's tables, only
    linked there, are left alone (the links are removed, never followed)."""
    folder = main.environment(name).data_dir
    if not folder.is_dir():
        known = ", ".join(p.name for p in environments(main)) or "none"
        raise EnvironmentError(f"no environment {name!r} (environments: {known})")
    shutil.rmtree(folder)  # never follows a symbolic link: removes the link itself
    return folder


def build(
    main: Settings,
    name: str,
    definitions: Callable[[Settings], dg.Definitions],
    declared: list[DeclaredTable],
    instance: dg.DagsterInstance,
    echo: Echo,
) -> EnvironmentBuild:
    """Build the tables the plan against main affects into environment `name`, and diff them."""
    if is_remote(main.tables_uri):
        raise EnvironmentError(
            f"environments need the tables in a local folder (LAKEHOUSE_TABLES_URI is {main.tables_uri}): "
            "an object store has no links to read main's tables through without copying them"
        )
    env = main.environment(name)
    plan = make_plan(main.tables_dir, declared)
    own = {t.table for t in plan.tables}
    prepare(main, env, declared, plan)
    _migrate_clones(env, plan)
    if own:
        selection = [dg.AssetKey.from_user_string(t) for t in sorted(own)] + [CATALOG]
        outcome = run_build(definitions(env), instance, echo, selection)
        if not outcome.success:
            failed = [f"{c.asset} {c.check}" for c in outcome.checks if not c.passed and not c.warned]
            raise EnvironmentError(
                f"the build of environment {name} failed (run {outcome.run_id})"
                + (f"; failed checks: {', '.join(failed)}" if failed else "")
            )
    by_key = {t.key: t for t in declared}
    diffs = [_diff(main, env, by_key[table]) for table in sorted(own) if by_key[table].row_key]
    return EnvironmentBuild(name, env, plan, sorted(own), [d for d in diffs if d is not None])


def _migrate_clones(env: Settings, plan: Plan) -> None:
    """Each cloned table brought to its declared columns, as `apply` migrates main's."""
    for table in plan.migrated:
        uri = str(Path(env.tables_dir, *table.table.split("/")))
        if table.migration is not None and delta_tables.exists(uri):
            made_by = {"dagster.code_version": table.code_version, "lakehouse.environment": env.data_dir.name}
            migrations.rewrite(uri, table.migration, made_by)


def _diff(main: Settings, env: Settings, table: DeclaredTable) -> TableDiff | None:
    """The environment's table against the main one's (None: not in main yet)."""
    ours, theirs = (str(Path(s.tables_dir, *table.key.split("/"))) for s in (env, main))
    if not delta_tables.exists(theirs):
        return None
    before, after = delta_tables.version(theirs), delta_tables.version(ours)
    old, new = delta_tables.scan(theirs), delta_tables.scan(ours)
    return compare(old, new, table.key, table.row_key, before, after, table.migrations.renames)
