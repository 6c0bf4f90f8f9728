"""A clickstream lakehouse: simulated batches through raw, refined events and sessions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from lakehouse import simulator
from lakehouse.defs.raw.events import raw_events
from lakehouse.defs.refined.events import EVENTS
from lakehouse.defs.refined.refine import build_refined_asset
from lakehouse.defs.refined.sessions import refined_sessions
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.sources.landing import LandingZone

SMALL = {"scale": 0.003, "seed": 11}
ASSETS = [raw_events, build_refined_asset(EVENTS), refined_sessions]


def build(root: Path, instance: dg.DagsterInstance, **options: int) -> DeltaStore:
    """Build the clickstream tables; `options`: the store's (`batch_rows`)."""
    store = DeltaStore(root=str(root / "tables"), **options)
    resources = {
        "landing": LandingZone(root=str(root / "sources" / "landing")),
        "store": store,
        "io_manager": DeltaIOManager(store=store),
        "pseudonymiser": Pseudonymiser(key="test"),
    }
    assert dg.materialize(ASSETS, instance=instance, resources=resources).success
    return store


def simulate(root: Path, days: int, **options: float) -> dict:
    """The sources of `days` days, SMALL unless `options` say otherwise (`scale`, `seed`)."""
    return simulator.generate(root / "sources", days=days, **(SMALL | options))
