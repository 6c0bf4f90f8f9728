"""The simulator's state file, `state.json`: the parameters of the simulation written so far.

The written sources are a pure function of these four values; `advance` goes on from them and
from the carry state beside them (`carry`), without simulating the history again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


@dataclass(frozen=True)
class Params:
    scale: float
    seed: int
    start: date
    days: int

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")

    @property
    def end(self) -> date:
        """The day after the last simulated day."""
        return self.start + timedelta(days=self.days)

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Params:
        return cls(
            scale=float(data["scale"]),
            seed=int(data["seed"]),
            start=date.fromisoformat(data["start"]),
            days=int(data["days"]),
        )


def write_params(out_dir: Path, params: Params) -> None:
    (out_dir / STATE_FILE).write_text(json.dumps(params.to_json(), indent=2) + "\n")


def read_params(out_dir: Path) -> Params:
    path = out_dir / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"no simulation in {out_dir}: {STATE_FILE} is missing (generate first)")
    return Params.from_json(json.loads(path.read_text()))
