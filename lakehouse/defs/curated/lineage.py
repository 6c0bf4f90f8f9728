"""Column lineage of the curated tables, derived from the expressions that compute them.

Each curated transform keeps its column expressions in module-level lists; the same lists build the
table and, here, its `dagster/column_lineage`: an output column depends on the root columns of its
expression, followed through intermediate (derived) columns down to the input tables that hold
them. A root held by several inputs (a join key) is attributed to the first input listed.
Bookkeeping columns (`_…`) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg
import polars as pl

from lakehouse.defs.refined.assets import REFINED_TABLES
from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE


def refined_columns(key: dg.AssetKey) -> list[str]:
    """The columns of a refined table, from its definition."""
    table = next(t for t in REFINED_TABLES if t.refined_key == key)
    return [*table.output_columns, "_refined_at"]


def column_lineage(
    outputs: Iterable[pl.Expr],
    inputs: Mapping[dg.AssetKey, Sequence[str]],
    derived: Iterable[pl.Expr] = (),
) -> dg.TableColumnLineage:
    """Lineage of each output column (named by its expression) to the input tables' columns."""
    derivations: dict[str, set[str]] = {}
    for expr in derived:
        derivations.setdefault(expr.meta.output_name(), set()).update(expr.meta.root_names())

    def sources(column: str, seen: frozenset[str]) -> list[dg.TableColumnDep]:
        if column in derivations and column not in seen:
            roots = sorted(derivations[column])
            return [dep for root in roots for dep in sources(root, seen | {column})]
        holder = next((key for key, columns in inputs.items() if column in columns), None)
        return [] if holder is None else [dg.TableColumnDep(asset_key=holder, column_name=column)]

    deps_by_column = {}
    for expr in outputs:
        name = expr.meta.output_name()
        deps = [dep for root in expr.meta.root_names() for dep in sources(root, frozenset())]
        if deps and not name.startswith("_"):
            deps_by_column[name] = sorted(set(deps), key=lambda d: (d.asset_key.path, d.column_name))
    return dg.TableColumnLineage(deps_by_column)


def lineage_metadata(
    outputs: Iterable[pl.Expr], inputs: Mapping[dg.AssetKey, Sequence[str]], derived: Iterable[pl.Expr] = ()
) -> dict[str, dg.TableColumnLineage]:
    """Definition metadata of an asset's column lineage (copied onto each materialisation)."""
    return {COLUMN_LINEAGE: column_lineage(outputs, inputs, derived)}
