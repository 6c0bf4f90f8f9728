"""A build of part of a lakehouse: a test that changed one source or table rebuilds what that reaches.

A whole build runs ~150 steps at ~0.05 s of CPU each whatever the data's size; a test judging what a
change reaches need not pay for the steps it cannot reach (the other sources send nothing new).
"""

import dagster as dg

from assets_tests.conftest import Lakehouse
from lakehouse.operations.runner import BuildOutcome, run_build


def build_selected(
    lakehouse: Lakehouse, instance: dg.DagsterInstance, selection: dg.AssetSelection
) -> BuildOutcome:
    """Materialise the assets `selection` resolves to (and the other outputs of their steps), with
    their checks, as `lakehouse run --select` does."""
    whole_steps = selection.required_multi_asset_neighbors()
    keys = list(whole_steps.resolve(lakehouse.definitions.resolve_asset_graph()))
    lakehouse.outcome = run_build(lakehouse.definitions, instance, echo=lambda _: None, selection=keys)
    return lakehouse.outcome


def reached_from(*tables: str) -> dg.AssetSelection:
    """The tables (`layer/name`) and every asset downstream of them."""
    return _tables(tables).downstream()


def feeding(*tables: str) -> dg.AssetSelection:
    """The tables (`layer/name`) and every asset upstream of them."""
    return _tables(tables).upstream()


def _tables(tables: tuple[str, ...]) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*(dg.AssetKey(table.split("/")) for table in tables))
