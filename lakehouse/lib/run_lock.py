"""The data folder's run lock: builds hold it shared (several may run; each table's writer takes its
pool's slot), an erasure, a retention pass or a backup holds it alone, so no build commits meanwhile.

One file lock (`<data dir>/.run.lock`, `flock`) taken the same way by every command that writes.
"""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".run.lock"


class FolderBusyError(RuntimeError):
    """The lock is held in a way that excludes the caller, who asked not to wait."""


@contextmanager
def holding(data_dir: Path, *, exclusive: bool, wait: bool = False) -> Iterator[None]:
    """Hold the data folder's lock, shared or alone; without `wait`, refuse at once
    (`FolderBusyError`) when it is held in a way that excludes this holder."""
    lock_path = data_dir / LOCK_FILE
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, mode if wait else mode | fcntl.LOCK_NB)
        except BlockingIOError as error:
            holder = "a `lakehouse run` is building" if exclusive else "an erasure or a backup holds"
            raise FolderBusyError(f"{holder} this data folder; wait for it") from error
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
