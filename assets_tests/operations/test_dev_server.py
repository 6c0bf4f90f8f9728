"""The UI's process group stops whole: a stop is forwarded, and stragglers are swept."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from lakehouse.operations.dev_server import STOP_SECONDS, live_members

# A stand-in for `dg dev`: it leaves a child behind when it stops (as a restarted code server is),
# and tells which signal it got, so a test can wait for it to be up.
LEADER = """
import signal, subprocess, sys, time
subprocess.Popen(["sleep", "300"])
def stop(signum, frame):
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
print("up", flush=True)
time.sleep(300)
"""
SERVE = """
import sys
from pathlib import Path
from lakehouse.operations.dev_server import serve
sys.exit(serve([sys.executable, "-c", sys.argv[1]], Path.cwd(), {}, print))
"""


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_sigterm_stops_the_leader_and_sweeps_what_it_left(tmp_path: Path):
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, LEADER], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "up\n"
    (leader,) = _children(process.pid)
    assert len(live_members(leader)) == 2

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=10) == 0  # at most STOP_SECONDS
    assert live_members(leader) == []
    assert STOP_SECONDS < 10
