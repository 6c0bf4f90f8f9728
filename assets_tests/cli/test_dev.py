"""`lakehouse dev`: the Dagster UI starts, answers, and stops whole within 10 s on SIGINT or SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from lakehouse.operations.dev_server import live_members

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


def _start(tmp_path: Path, *, as_background_job: bool) -> tuple[subprocess.Popen[bytes], int]:
    """`lakehouse dev` on a free port over an empty data folder, once the UI answers; and the
    process group of its `dg dev`. A script's background job starts with SIGINT ignored."""
    port = _free_port()
    ignore_sigint: Callable[[], object] | None = (
        (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if as_background_job else None
    )
    process = subprocess.Popen(
        [
            LAKEHOUSE,
            "--data-dir",
            str(tmp_path / "data"),
            "--dagster-home",
            str(tmp_path),
            "dev",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=ignore_sigint,
        env={**os.environ, "LAKEHOUSE_DATA_DIR": str(tmp_path / "data")},
    )
    deadline = time.monotonic() + 180
    while not _answers(f"http://127.0.0.1:{port}/server_info"):
        assert process.poll() is None, "lakehouse dev exited before the UI answered"
        assert time.monotonic() < deadline, "the UI did not answer"
        time.sleep(1)
    (dg_dev,) = _children(process.pid)
    return process, dg_dev


@pytest.mark.e2e  # the command in a fresh process
def test_ctrl_c_stops_the_ui_whole_within_10_seconds_even_as_a_script_background_job(tmp_path: Path):
    process, group = _start(tmp_path, as_background_job=True)
    assert len(live_members(group)) >= 4  # dg dev, the webserver, the daemon, the code server

    process.send_signal(signal.SIGINT)

    assert process.wait(timeout=10) == 0
    assert live_members(group) == []
