"""Running curated assets in tests: directly (their output, enforced by their contract), or all of them."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl

from lakehouse.definitions import default_definitions
from lakehouse.lib.spec import CONTRACT_CHECK
from lakehouse.lib.storage.row_batches import RowBatches

defs = default_definitions()


def checked_output(asset: dg.AssetsDefinition, **inputs: Any) -> dg.Output:
    """The asset's output as it returns it, run directly (batches of rows stay batches), whose
    contract check must have passed."""
    events = list(asset(**inputs))
    checks = [(e.check_name, e.passed) for e in events if isinstance(e, dg.AssetCheckResult)]
    assert checks == [(CONTRACT_CHECK, True)]
    (output,) = [e for e in events if isinstance(e, dg.Output)]
    return output


def output_of(asset: dg.AssetsDefinition, **inputs: Any) -> dg.Output:
    """The asset's output, run directly: its rows conformed to the contract (None: nothing to write),
    whose check must have passed."""
    output = checked_output(asset, **inputs)
    if isinstance(output.value, RowBatches):  # built a few days at a time: every batch, enforced
        return dg.Output(pl.concat(list(output.value.conformed())), metadata=output.metadata)
    return output


def curated_assets() -> list[dg.AssetsDefinition]:
    """Every curated asset, as the defs-folder loader finds them."""
    found = {id(a): a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)}.values()
    curated = (a for a in found if all(key.path[0] == "curated" for key in a.keys))
    return sorted(curated, key=lambda a: a.key.path)
