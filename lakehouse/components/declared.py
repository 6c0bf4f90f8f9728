"""The declared sources, from the project's component tree (the `defs.yaml` files under
`lakehouse/defs/sources/`), for code that needs all of them outside the definitions: the report,
the quarantine commands, the tests. Loaded once per process, on first use (never at import)."""

from functools import cache

import dagster as dg

from lakehouse.components.database_table import DatabaseTable
from lakehouse.components.file_set import LandingFileSet
from lakehouse.defs.raw.files import FileSet
from lakehouse.defs.refined.assets import REFINED_TABLES
from lakehouse.defs.refined.declared import declared_refined_table
from lakehouse.defs.refined.refine import RefinedTable
from lakehouse.settings import PROJECT_ROOT
from lakehouse.sources.declared import Source
from lakehouse.sources.shop_tables import SourceTable


@cache
def _tree() -> dg.ComponentTree:
    return dg.ComponentTree.for_project(PROJECT_ROOT)


def file_sets() -> dict[str, FileSet]:
    """Every declared file set, by name."""
    components = _tree().get_all_components(of_type=LandingFileSet)
    return {c.name: c.file_set for c in sorted(components, key=lambda c: c.name)}


def shop_tables() -> dict[str, SourceTable]:
    """Every declared table of the shop database, by name."""
    components = _tree().get_all_components(of_type=DatabaseTable)
    return {c.name: c.table for c in sorted(components, key=lambda c: c.name)}


def sources() -> list[Source]:
    """Every declared source."""
    tree = _tree()
    return [*tree.get_all_components(of_type=DatabaseTable), *tree.get_all_components(of_type=LandingFileSet)]


def standalone_source_tables() -> set[dg.AssetKey]:
    """The tables of the declared sources that stand alone: every source but those linked to a
    built-in refined table of the simulated shop (`refine`). Their raw tables (a file set's with its
    rejected files and its registry of file versions) and, with an inline contract, their refined
    and quarantine tables."""
    keys: set[dg.AssetKey] = set()
    for source in sources():
        if source.refine:
            continue
        if isinstance(source, LandingFileSet):
            keys |= set(source.file_set.keys)
        else:
            keys.add(dg.AssetKey(["raw", source.name]))  # a database table's (`build_raw_shop_asset`)
        if source.contract:
            refined = declared_refined_table(source)
            keys |= {refined.refined_key, refined.quarantine_key}
    return keys


def refined_tables() -> tuple[RefinedTable, ...]:
    """Every refined table: those with a Python transform, then those declared with a source."""
    declared = sorted((s for s in sources() if s.contract), key=lambda s: s.name)
    return (*REFINED_TABLES, *(declared_refined_table(s) for s in declared))
