from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from lakehouse.simulator.state import STATE_FILE, Params, read_params, write_params


def test_params_round_trip_through_the_state_file(tmp_path: Path) -> None:
    params = Params(scale=0.25, seed=9, start=date(2024, 2, 29), days=400)
    write_params(tmp_path, params)

    assert json.loads((tmp_path / STATE_FILE).read_text()) == {
        "scale": 0.25,
        "seed": 9,
        "start": "2024-02-29",
        "days": 400,
    }
    assert read_params(tmp_path) == params


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("scale", 0.0, "scale"), ("seed", -1, "seed"), ("days", 0, "days")],
)
def test_params_are_validated(field: str, value: float, message: str) -> None:
    valid = {"scale": 0.01, "seed": 42, "start": date(2025, 1, 1), "days": 1}
    with pytest.raises(ValueError, match=message):
        Params(**{**valid, field: value})
