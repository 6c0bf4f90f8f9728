"""The Delta table store as a Dagster resource: where each asset's table lives, and reads of it.

Reads go through pins (see `reads`): the store's own reads are of each table's newest version;
`reading(context)` gives the store as a step of a run reads it, each read recorded.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import dagster as dg

from lakehouse.lib.storage import delta_tables, location, spill
from lakehouse.lib.storage.location import join
from lakehouse.lib.storage.reads import (
    Key,
    PinnedTable,
    RunSnapshot,
    StepReads,
    TableReads,
    key_path,
    table_name,
)
from lakehouse.settings import Settings, scratch_beside


class DeltaStore(TableReads, dg.ConfigurableResource):
    """Delta tables under `root` (a folder or `s3://bucket/prefix`), one per asset: asset key
    `refined/orders` -> `<root>/refined/orders`."""

    root: str
    # Rows of a large input a step holds at a time: refined transforms a full build's new raw rows
    # in windows of this many, so its memory follows the window, not the table.
    batch_rows: int = Settings.batch_rows
    # Rows whose keys a check or metric over every key of a table holds at a time (`key_buckets`).
    key_bucket_rows: int = Settings.key_bucket_rows
    # Where the steps spill rows they hold on disk for a while (`spill.scratch_folder`), a local
    # folder whatever `root` is; empty: the settings' rule beside a local `root` (`scratch_beside`:
    # `<data>/tables` -> `<data>/scratch`), so a store made over a test's folders spills among
    # them, not in the project's data/.
    scratch_dir: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> DeltaStore:
        """The store of the tables `settings` name, spilling under their scratch folder."""
        return cls(
            root=settings.tables_uri,
            batch_rows=settings.batch_rows,
            key_bucket_rows=settings.key_bucket_rows,
            scratch_dir=str(settings.scratch_dir),
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A run on an object store that cannot be used fails at once, saying what to check."""
        location.check_reachable(self.root)

    @property
    def scratch(self) -> Path:
        """The folder the steps' spill folders go under (see `scratch_dir`)."""
        if self.scratch_dir:
            return Path(self.scratch_dir)
        if location.is_remote(self.root):
            raise ValueError(
                f"DeltaStore(root={self.root!r}) has no scratch_dir: spills are local files, so give "
                "it a local folder (the settings' is `<data>/scratch`)"
            )
        return scratch_beside(Path(self.root).resolve())

    def scratch_folder(self, prefix: str) -> AbstractContextManager[Path]:
        """A folder of one step's spills under `scratch`, removed when the context ends."""
        return spill.scratch_folder(self.scratch, prefix)

    def uri(self, key: Key) -> str:
        return join(self.root, *key_path(key))

    def pin(self, key: Key, snapshot: RunSnapshot | None = None) -> PinnedTable:
        """The table at the version `snapshot`'s run reads; without one, at its newest version."""
        uri = self.uri(key)
        version = delta_tables.version(uri) if snapshot is None else snapshot.version(uri)
        return PinnedTable(table_name(key), uri, version)

    def reading(self, context: dg.AssetExecutionContext) -> StepReads:
        """The store as the step of `context` reads it: the run's versions, each read recorded."""
        return StepReads(self, context)
