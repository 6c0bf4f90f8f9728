"""What each step of a run cost (work seconds, rows read, rows written, peak memory), and the
memory sampler that measures the peaks.

`run_costs.step_costs` reads them back from the run's event log after the run, so nothing in the
assets is timed or counted for it:

- seconds: from the step's start to its success (or failure) event;
- rows written: the `rows_written` its materialisations report;
- rows read: the rows, as the Delta log counts them, of every table version the step read: its
  assets' inputs, the tables a check reads, and the tables it looked up itself (the observations
  `store.reading(context)` logs). It is what the step may scan, before Polars skips files and row
  groups: a step that reads a whole table where the change is one day shows up here;
- peak memory: the highest resident memory sampled (`MemorySampler`) while the step ran, of the
  whole process (an in-process run executes one step at a time).

Plain Python: the benchmark's parent process reads costs without importing Dagster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

SAMPLE_SECONDS = 0.02


@dataclass(frozen=True)
class StepCost:
    """One step of a run: what it did (`what`: the assets it wrote, or the check it evaluated)."""

    step: str
    what: str
    seconds: float
    rows_read: int
    rows_written: int
    peak_mb: float


def rss_mb() -> float:
    """This process's resident memory now (`VmRSS`), in MB (MiB)."""
    return _status_mb("VmRSS:")


def peak_rss_mb() -> float:
    """This process's peak resident memory (`VmHWM`), in MB (MiB)."""
    return _status_mb("VmHWM:")


def _status_mb(field_name: str) -> float:
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(field_name))
    return int(line.split()[1]) / 1024


class MemorySampler:
    """Samples this process's resident memory in a background thread while in its `with` block."""

    def __init__(self, every: float = SAMPLE_SECONDS) -> None:
        self.every = every
        self.samples: list[tuple[float, float]] = []  # (time.time(), MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="memory-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            self.samples.append((time.time(), rss_mb()))
            if self._stop.wait(self.every):
                return

    def peak_between(self, start: float, end: float) -> float:
        """The highest sample from `start` to `end` (the nearest one before when none fell within)."""
        within = [mb for at, mb in self.samples if start <= at <= end]
        before = [mb for at, mb in self.samples if at < start][-1:]
        return max(within or before or [0.0])


def top(costs: Iterable[StepCost], n: int = 5) -> list[StepCost]:
    """The `n` costliest steps by work seconds."""
    return sorted(costs, key=lambda c: c.seconds, reverse=True)[:n]
