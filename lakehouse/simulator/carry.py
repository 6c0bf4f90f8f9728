"""What the simulator carries from one run to the next: the state the next day depends on.

Every day's draws depend only on (seed, scale, day), but some of what a day writes depends on the
days before it: the stock of each product (`inventory.Supplier`), the clickstream lines still on
their way and the lateness window's high water (`clickstream.Collector`), and the ground truth's
running counts (the daily ledger of `manifest`, the defect records, the clickstream's and the
inventory's tallies). `advance` reads them instead of simulating the history again, so its cost
follows the days it adds.

They are kept beside `state.json`, in `carry-<days>/` (the days simulated when it was written):
written before the state file, so that a run interrupted before its state file leaves the previous
carry, which the state file still names; older ones are removed once the state file is written.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lakehouse.simulator.clickstream import Collector
from lakehouse.simulator.defects import DEFECTS_SCHEMA
from lakehouse.simulator.deletes import Deletions
from lakehouse.simulator.inventory import Supplier
from lakehouse.simulator.state import Params

CARRY_DIRS = "carry-*"
_VALUES = "carry.json"
_STOCK = "stock.parquet"


@dataclass
class Carry:
    """The running state of a simulation after `days` days."""

    ledger: pl.DataFrame  # manifest.day_ledger of every day so far
    defects: pl.DataFrame  # the defect records of the orders, order lines and payments so far
    collector: Collector
    supplier: Supplier
    deletions: Deletions  # of the customers and products, drawn so far

    @classmethod
    def start(cls, params: Params, products: pl.DataFrame, deletions: Deletions) -> Carry:
        """Nothing simulated yet but the customers and products (`deletions`)."""
        return cls(
            ledger=pl.DataFrame(),
            defects=pl.DataFrame(schema=DEFECTS_SCHEMA),
            collector=Collector(),
            supplier=Supplier(products, params.scale, params.seed, params.start, params.days),
            deletions=deletions,
        )

    @classmethod
    def read(
        cls, out_dir: Path, old: Params, params: Params, products: pl.DataFrame, deletions: Deletions
    ) -> Carry:
        """The carry the simulation of `old` left in `out_dir`, to go on to `params`' days, with
        the customers' and products' `deletions` drawn up to them."""
        folder = _existing(out_dir, old.days)
        values = json.loads((folder / _VALUES).read_text())
        frames = {path.stem: pl.read_parquet(path) for path in folder.glob("*.parquet")}
        stock = {
            name: frames[_STOCK.removesuffix(".parquet")].get_column(name).to_numpy()
            for name in _STOCK_COLUMNS
        }
        return cls(
            ledger=frames["ledger"],
            defects=frames["defects"],
            collector=Collector.resumed(frames, values["clickstream"]),
            supplier=Supplier(
                products, params.scale, params.seed, params.start, params.days, (stock, values["inventory"])
            ),
            deletions=deletions,
        )

    def write(self, out_dir: Path, days: int) -> None:
        """Save the carry after `days` days (replacing any half-written one of that day)."""
        folder = carry_dir(out_dir, days)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        clickstream_frames, clickstream_values = self.collector.carried()
        stock, inventory_values = self.supplier.carried()
        frames = {
            "ledger": self.ledger,
            "defects": self.defects,
            **clickstream_frames,
            _STOCK.removesuffix(".parquet"): pl.DataFrame({name: stock[name] for name in _STOCK_COLUMNS}),
            **{
                f"{table}{_DELETIONS}": pl.DataFrame({"day": day, "instant": instant})
                for table, (day, instant) in self.deletions.items()
            },
        }
        for name, frame in frames.items():
            if frame is not None:
                frame.write_parquet(folder / f"{name}.parquet")
        values = {"clickstream": clickstream_values, "inventory": inventory_values}
        (folder / _VALUES).write_text(json.dumps(values, indent=2, default=_json_number) + "\n")


_STOCK_COLUMNS = ("stock", "pending", "arrival")
_DELETIONS = "_deletions"


def carry_dir(out_dir: Path, days: int) -> Path:
    return Path(out_dir) / f"carry-{days}"


def read_deletions(out_dir: Path, days: int) -> Deletions:
    """The customers' and products' deletions drawn in the first `days` days."""
    folder = _existing(out_dir, days)
    deletions = {}
    for path in folder.glob(f"*{_DELETIONS}.parquet"):
        frame = pl.read_parquet(path)
        deletions[path.stem.removesuffix(_DELETIONS)] = (
            frame.get_column("day").to_numpy(),
            frame.get_column("instant").to_numpy(),
        )
    return deletions


def _existing(out_dir: Path, days: int) -> Path:
    folder = carry_dir(out_dir, days)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no carry state for day {days} in {out_dir} ({folder.name} is missing): "
            "generate the simulation again with this version of the simulator"
        )
    return folder


def remove_stale(out_dir: Path, days: int) -> None:
    """Remove every carry but that of `days` days (the one `state.json` names)."""
    for folder in Path(out_dir).glob(CARRY_DIRS):
        if folder != carry_dir(out_dir, days):
            shutil.rmtree(folder, ignore_errors=True)


def _json_number(value: Any) -> int:
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(f"cannot save {value!r} in {_VALUES}")
