"""A build killed in the middle of a raw write, or right after its commit, and run again: every
source record lands exactly once. The killed build leaves its spilled rows under its data folder
(`data/scratch`), nothing in the system's temporary folder, and `lakehouse runs reap` removes them.

The killed build runs in a process of its own (it dies); the run again is the same command in this
process: all it starts from is on disk (the tables, the sources, the instance in `home`), and a
process start costs ~3 s of imports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from assets_tests.cli.conftest import invoker
from lakehouse import simulator

pytestmark = pytest.mark.e2e  # a build in a fresh process

# Runs `lakehouse run` of the raw layer (what the test judges) in a process that dies (os._exit: no
# cleanup, like a kill -9) during, or just after, the first write to raw/<table>.
DYING_BUILD = textwrap.dedent(
    """
    import os, sys
    from lakehouse.lib.storage import parquet_append

    table, moment = sys.argv[1], sys.argv[2]
    append, write_file = parquet_append.append, parquet_append._write_file

    def dying_append(uri, *args, **kwargs):
        if not uri.endswith(f"/raw/{table}"):
            return append(uri, *args, **kwargs)
        if moment == "during":  # a data file is written; the commit never happens
            def dying_write_file(*args, **kwargs):
                write_file(*args, **kwargs)
                os._exit(137)
            parquet_append._write_file = dying_write_file
        append(uri, *args, **kwargs)
        os._exit(137)  # committed, but Dagster never hears of it

    parquet_append.append = dying_append
    from lakehouse.cli import main
    main(sys.argv[3:])
    """
)


RUN_RAW = ["run", "--scale", "0.002", "--seed", "3", "--select", "group:raw"]


def lakehouse_run(data_dir: Path, temp: Path, *args: str) -> subprocess.CompletedProcess:
    """`python ARGS` building in `data_dir`, with `temp` (empty) as its system temporary folder."""
    env = {
        **os.environ,
        "LAKEHOUSE_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(data_dir / "home"),
        "TMPDIR": str(temp),
    }
    (data_dir / "home").mkdir(exist_ok=True)
    temp.mkdir()
    (data_dir / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=600)


def raw_rows(data_dir: Path, table: str) -> int:
    path = data_dir / "tables" / "raw" / table
    return pl.read_delta(str(path)).height if (path / "_delta_log").is_dir() else 0


def scratch_folders(data_dir: Path) -> list[str]:
    """The kinds of the spill folders under the data folder (`extract-order_items`, ...)."""
    scratch = data_dir / "scratch"
    return sorted(f.name.rsplit("-", 1)[0] for f in scratch.iterdir()) if scratch.exists() else []


@pytest.mark.parametrize(
    ("table", "moment"), [("order_items", "during"), ("order_items", "after"), ("payments", "after")]
)
def test_a_build_killed_in_a_raw_write_and_run_again_lands_every_record_once(
    tmp_path: Path, table: str, moment: str
):
    data, temp = tmp_path / "data", tmp_path / "temp"
    manifest = simulator.generate(data / "sources", scale=0.002, seed=3, days=30)
    killed = lakehouse_run(data, temp, "-c", DYING_BUILD, table, moment, *RUN_RAW)
    assert killed.returncode == 137, killed.stdout[-3000:]
    assert raw_rows(data, table) == (manifest["source_rows"][table] if moment == "after" else 0)
    assert list((data / "tables" / "raw" / table).glob("*.parquet"))  # during: written, not committed
    assert list(temp.iterdir()) == []  # its spills are in its data folder, left there by the kill
    left = scratch_folders(data)
    assert left == (["extract-order_items"] if table == "order_items" else [])
    lakehouse = invoker("--data-dir", str(data), "--dagster-home", str(data / "home"))

    reaped = lakehouse("runs", "reap")

    assert reaped.output.count("removed the abandoned scratch folder") == len(left), reaped.output
    assert scratch_folders(data) == []
    again = lakehouse(*RUN_RAW)
    assert again.exit_code == 0, again.output[-3000:]
    assert scratch_folders(data) == []
    for name in ("customers", "products", "orders", "order_items", "payments"):
        rows = pl.read_delta(str(data / "tables" / "raw" / name))
        assert rows.height == manifest["source_rows"][name], name
        assert rows.select("_batch_id", "_row_number").is_duplicated().sum() == 0, name
