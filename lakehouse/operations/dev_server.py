"""Run the Dagster UI (`dg dev`: webserver, daemon, code server) so that it always stops whole.

`dg dev` alone misbehaves in two ways the lakehouse's users hit:

- Ctrl-C reaches every process of the terminal's process group at once, so the code server dies
  before `dg dev` shuts down, `dg dev` restarts it, and the restarted one lives on as an orphan
  until its heartbeat times out (~50 s).
- A background job started from a script inherits SIGINT *ignored*; Python then installs no
  KeyboardInterrupt handler, so neither Ctrl-C nor `dg dev`'s own shutdown can stop it.

So `dg dev` runs in a process group of its own, with SIGINT and SIGTERM at their defaults (this
process catches both before starting it, and caught signals are reset to the default on exec,
where ignored ones would stay ignored). A stop request, on either signal, is forwarded to `dg dev`
alone as SIGINT: it stops its services in order. Whatever of its group is still alive after a
grace period, or once it has exited (a restarted code server, a gRPC child), is killed, so the
whole group is gone within `STOP_SECONDS`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

# How long `dg dev` gets to stop its services before its group is killed; it needs about 3 s.
GRACE_SECONDS = 5.0
# How long the group's stragglers get after SIGTERM, and then after SIGKILL.
SWEEP_SECONDS = 2.0
STOP_SECONDS = GRACE_SECONDS + 2 * SWEEP_SECONDS
"""The longest a stop takes, from the signal to no process left."""

# A Dagster-internal notice about its own API (the CLI hides it too); the `-W` syntax: action:message.
QUIET_WARNINGS = "ignore:Parameter `execution_type` of function `AssetsDefinition.__init__`"


def dev_command(host: str, port: int) -> list[str]:
    """`dg dev` of this environment, serving the UI on `host:port`."""
    return [str(Path(sys.executable).parent / "dg"), "dev", "--host", host, "--port", str(port)]


def dev_environment(dagster_home: Path) -> dict[str, str]:
    """The environment of `dg dev`: the project's instance and virtual environment, quiet warnings."""
    venv = Path(sys.prefix)
    warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), QUIET_WARNINGS]))
    return {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "VIRTUAL_ENV": str(venv),
        "PYTHONWARNINGS": warnings,
    }


def serve(command: list[str], cwd: Path, env: dict[str, str], echo: Callable[[str], None]) -> int:
    """Run `command` until it exits or this process gets SIGINT or SIGTERM; then stop its whole
    process group. Returns its exit code, 0 for a stop that was asked for."""
    stop_requested: list[int] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, process_group=0)
        try:
            code = _wait_for_exit_or_stop(process, stop_requested, echo)
        finally:
            stop_group(process.pid)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stop_requested else code


def _wait_for_exit_or_stop(
    process: subprocess.Popen[bytes], stop_requested: list[int], echo: Callable[[str], None]
) -> int:
    while not stop_requested:
        code = process.poll()
        if code is not None:
            return code
        time.sleep(0.2)
    echo(f"stopping the Dagster UI ({signal.Signals(stop_requested[0]).name}) …")
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        return -signal.SIGKILL


def stop_group(pgid: int) -> None:
    """End every live process of group `pgid`: SIGTERM, then SIGKILL after `SWEEP_SECONDS`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not live_members(pgid):
            return
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + SWEEP_SECONDS
        while live_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


def live_members(pgid: int) -> list[int]:
    """The processes of group `pgid` still running (zombies, dead but not yet reaped, are not)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members
