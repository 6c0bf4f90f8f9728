"""Fewer disk flushes for the Dagster instance's SQLite files (the embedded default; production runs
on PostgreSQL, which this leaves alone).

Dagster's SQLite storage opens a new connection for every event it writes and closes it after. Its
files are in WAL mode with SQLite's default `synchronous=FULL`, and when the last connection to a
WAL file closes, SQLite checkpoints the log into the database and deletes it. So each event costs
several `fdatasync`s (the log, the database, the folder): 8,115 of them in a one-day incremental
build at scale 0.1, 1.7 ms each on this machine's disk under load. Two public SQLAlchemy hooks mend
that without touching Dagster:

- every SQLite connection SQLAlchemy opens runs with `synchronous=NORMAL`: in WAL mode a commit
  is no longer flushed on its own, only at checkpoints. A power cut may lose the last events;
  the files stay consistent (SQLite's documented guarantee), and a crash of the process loses
  nothing;
- one idle connection is kept open to each shared file of the instance (the run index, the runs,
  the schedules), so closing Dagster's connections no longer checkpoints and deletes its log
  every time. A run's own event log (named after its run id) is not kept: the webserver streams
  a running run's events by watching that file change, and a kept connection would hold its
  writes in the log until a checkpoint.

With both, a scale-0.1 one-day incremental made 3,713 flushes instead of 8,115 (strace): what is
left is the runs' own logs.
"""

import functools
import os
import sqlite3
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

KEPT_FILES = 8  # the most recently used shared files kept open (an instance has three)

_kept: OrderedDict[str, tuple[int, sqlite3.Connection]] = OrderedDict()  # by file: inode, connection
_lock = threading.Lock()


def flush_less() -> None:
    """Install the hook for every SQLite connection SQLAlchemy opens in this process (idempotent)."""
    if not event.contains(Engine, "connect", _on_connect):
        event.listen(Engine, "connect", _on_connect)


def _on_connect(connection: Any, _record: Any) -> None:
    if not isinstance(connection, sqlite3.Connection):
        return
    connection.execute("PRAGMA synchronous=NORMAL")
    file = connection.execute("PRAGMA database_list").fetchone()[2]
    if _is_shared(file):
        _keep_open(file, connection)


@functools.lru_cache(maxsize=64)
def _is_shared(file: str) -> bool:
    """Whether `file` is one of the instance's shared files, not a run's own event log (left to
    close) nor an in-memory database. Decided once per name: Dagster connects ~2,900 times in a
    one-day incremental build, to a handful of files."""
    if not file:
        return False
    try:
        uuid.UUID(Path(file).stem)
    except ValueError:
        return True
    return False


def _keep_open(path: str, connection: sqlite3.Connection) -> None:
    """An idle connection to `path` once it is in WAL mode, made once per file (a file deleted and
    made again, by a restore say, is another file). It only saves flushes, so a failure leaves
    Dagster's own `connection` alone."""
    try:
        inode = os.stat(path).st_ino
        with _lock:
            kept = _kept.get(path)
            if kept is not None and kept[0] == inode:
                _kept.move_to_end(path)
                return
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                return  # a file Dagster is still creating: kept from a later connection on
            if kept is not None:
                kept[1].close()
            idle = sqlite3.connect(path, check_same_thread=False)
            idle.execute("PRAGMA schema_version").fetchall()  # joins the log's shared memory
            _kept[path] = (inode, idle)
            _kept.move_to_end(path)
            while len(_kept) > KEPT_FILES:
                _kept.popitem(last=False)[1][1].close()
    except (OSError, sqlite3.Error):
        return


def _close_before_fork() -> None:
    """SQLite connections must not cross a `fork`: the kept ones are closed (made again on the
    next connection, in the parent and in the child alike)."""
    with _lock:
        while _kept:
            _kept.popitem()[1][1].close()


def _new_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it at the fork


os.register_at_fork(before=_close_before_fork, after_in_child=_new_lock_in_child)
