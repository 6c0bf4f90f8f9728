"""Delta snapshots kept while a step that writes nothing (a step of checks) reads the same tables.

Each open of a table lists its log and replays it from its last checkpoint. A step of checks asked
the same few tables again and again (the version, the state, the files added since a version, the
row count, then a scan of each), opening each afresh: 4 to 24 opens a step. Within
`Snapshots.kept()`, each table is opened once at each version asked for, and its newest version
is the one first seen there: one consistent snapshot, whatever other runs commit meanwhile (each
check records the version it judged, so the next one takes it from there).

What a step's judges derive from the snapshots (`derived`: a table's metric history, read by its
two or three anomaly checks) is kept the same way. Nothing is kept beyond the step: a backup
restored in place makes a version number mean other rows, and a table can be deleted and made
again. Nothing may be written to a table within `kept()`: the
newest snapshot kept would not show the write. `one_read()` keeps them for one read (a pin and
the scan of the version pinned), or joins the step's.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from deltalake import DeltaTable

T = TypeVar("T")


class Snapshots:
    """The tables one step opened, by URI and version (None: the newest)."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, int | None], DeltaTable] = {}
        self._derived: dict[Hashable, Any] = {}

    @contextmanager
    def kept(self) -> Iterator[None]:
        """Within it, tables are opened through these snapshots (`open_table`)."""
        token = _KEPT.set(self)
        try:
            yield
        finally:
            _KEPT.reset(token)

    def table(self, uri: str, at_version: int | None) -> DeltaTable:
        """The snapshot of that version, opened the first time it is asked for (`held`)."""
        held = self.held(uri, at_version)
        if held is None:
            held = self._tables[(uri, at_version)] = DeltaTable(uri, version=at_version)
        return held

    def held(self, uri: str, at_version: int | None) -> DeltaTable | None:
        """The snapshot of that version already opened, if any."""
        newest = self._tables.get((uri, None))
        if at_version is None or (newest is not None and newest.version() == at_version):
            return newest
        return self._tables.get((uri, at_version))

    def derived(self, key: Hashable, make: Callable[[], T]) -> T:
        """What `make` reads from these snapshots, made the first time `key` is asked for."""
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]


_KEPT: ContextVar[Snapshots | None] = ContextVar("lakehouse_kept_snapshots", default=None)


@contextmanager
def one_read() -> Iterator[None]:
    """Within it, each table is opened once: through the step's snapshots when it kept them, else
    through snapshots of its own (a pin and the reads of the version pinned, say)."""
    if _KEPT.get() is not None:
        yield
        return
    with Snapshots().kept():
        yield


def open_table(uri: str, at_version: int | None = None) -> DeltaTable:
    """The table at a version (None: the newest), raising as `DeltaTable()` does; within
    `Snapshots.kept()`, the snapshot kept."""
    snapshots = _KEPT.get()
    return DeltaTable(uri, version=at_version) if snapshots is None else snapshots.table(uri, at_version)


def derived(key: Hashable, make: Callable[[], T]) -> T:
    """What `make` reads from the tables, made once for all the judges of a step of checks (within
    `Snapshots.kept()`, whose snapshots it reads, so the same for each); made each time outside.
    `key` names what is read: the table, and whatever else `make` depends on."""
    snapshots = _KEPT.get()
    return make() if snapshots is None else snapshots.derived(key, make)


def held(uri: str, at_version: int | None) -> DeltaTable | None:
    """Within `Snapshots.kept()`, the snapshot of that version if it was opened; else None."""
    snapshots = _KEPT.get()
    return None if snapshots is None else snapshots.held(uri, at_version)
