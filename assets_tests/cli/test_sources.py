"""`lakehouse generate` and `lakehouse simulate`: the source systems."""

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from assets_tests.cli.conftest import Invoke, invoker
from assets_tests.object_store import ObjectStore
from lakehouse import simulator
from lakehouse.lib.storage.location import filesystem


def test_generate_refuses_to_mix_new_sources_into_built_tables(cli: Invoke):
    result = cli("generate", "--seed", "7")
    assert result.exit_code == 1
    assert "new sources would be mixed into them" in result.output


def test_generate_rejects_impossible_arguments_without_a_traceback(tmp_path: Path):
    cli = invoker("--data-dir", str(tmp_path))
    for args in (["--scale", "0"], ["--days", "0"], ["--advance", "0"]):
        result = cli("generate", *args)
        assert result.exit_code == 2, args
        assert "Invalid value" in result.output
    result = cli("generate", "--advance", "1")
    assert result.exit_code == 1
    assert "no simulation" in result.output


@pytest.mark.e2e  # the command in a fresh process
def test_simulate_keeps_the_sources_alive_until_interrupted(tmp_path: Path):
    """A real `lakehouse simulate` process: it advances, serves the API, and stops cleanly on Ctrl-C,
    even started with SIGINT ignored, as a script's background job is.

    Its data folder comes from `LAKEHOUSE_DATA_DIR`, as a user's shell would set it.
    """
    sources = tmp_path / "sources"
    simulator.generate(sources, scale=0.002, seed=3, days=10)
    batches_before = len(list((sources / simulator.CLICKSTREAM_DIR).glob(simulator.CLICKSTREAM_BATCHES)))
    env = {**os.environ, "LAKEHOUSE_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    command = [str(Path(sys.executable).parent / "lakehouse"), "simulate", "--interval", "0.5", "--port", "0"]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines = [process.stdout.readline() for _ in range(4)]  # the API, the plan, two advances
    url = lines[0].split(" at ")[1].strip()
    with urllib.request.urlopen(f"{url}?start=2025-01-01&end=2025-01-02", timeout=10) as answer:
        rates = json.loads(answer.read())
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=60)

    assert process.returncode == 0, errors
    assert {row["date"] for row in rates["data"]} == {"2025-01-01", "2025-01-02"}
    assert lines[2].split(" day ")[1].startswith("11: +")
    assert lines[3].split(" day ")[1].startswith("12: +")
    assert "+1 inventory snapshots" in lines[3]
    ticks = int(rest.splitlines()[-1].split("after ")[1].split(" ")[0])
    assert ticks >= 2
    days = simulator.read_params(sources).days
    assert days == 10 + ticks
    assert rest.splitlines()[-1] == f"stopped after {ticks} advance(s); the simulation holds {days} days"
    assert "Traceback" not in errors
    # exactly what `generate` of that many days writes
    expected = simulator.generate(tmp_path / "expected", scale=0.002, seed=3, days=days)
    assert json.loads((sources / "manifest.json").read_text()) == expected
    batches = len(list((sources / simulator.CLICKSTREAM_DIR).glob(simulator.CLICKSTREAM_BATCHES)))
    assert batches == expected["clickstream"]["batches"] > batches_before
    snapshots = sorted((sources / simulator.INVENTORY_DIR).glob("inventory_*.parquet.done"))
    assert len(snapshots) == expected["inventory"]["files"] == days


def landing_files(root: str) -> dict[str, int]:
    """The files under a landing zone (a folder or `s3://…`), by path within it, with their sizes."""
    store, bare = filesystem(root), root.removeprefix("s3://")
    found = store.find(bare, detail=True)
    return {path.removeprefix(f"{bare}/"): info["size"] for path, info in found.items()}


def test_generate_writes_the_landing_files_to_the_landing_zone_on_the_object_store(
    object_store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Generate, advance, then generate afresh: the zone holds exactly the simulation's landing
    files each time (the ground truth's counts; the stale ones removed), none is left behind in
    the simulator's folder, and a declared file set's folder in the zone is left alone."""
    landing = f"s3://{object_store.create_bucket()}/lakehouse/landing"
    theirs = f"{landing}/suppliers/stock.csv".removeprefix("s3://")
    filesystem(landing).pipe_file(theirs, b"sku,qty\n")
    monkeypatch.setenv("LAKEHOUSE_LANDING_DIR", landing)
    cli, sources = invoker("--data-dir", str(tmp_path)), tmp_path / "sources"

    for args, days in ((["--days", "3"], 3), (["--advance", "1"], 4), (["--days", "2"], 2)):
        result = cli("generate", "--scale", "0.002", "--seed", "3", *args)
        assert result.exit_code == 0, result.output
        manifest = json.loads((sources / "manifest.json").read_text())
        folders = Counter(name.split("/")[0] for name in landing_files(landing))
        inventory = manifest["inventory"]["files"]
        expected = {"payments": days - 1, "clickstream": manifest["clickstream"]["batches"], "suppliers": 1}
        assert folders == {**expected, "inventory": 2 * inventory}, args  # with their markers
        assert not [f for f in (sources / "landing").rglob("*") if f.is_file()], args
        assert f"landing files to {landing}" in result.output
