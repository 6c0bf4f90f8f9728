"""The Delta table store as a Dagster resource: where each asset's table lives, and reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.lib.storage import delta_tables


class DeltaStore(dg.ConfigurableResource):
    """Delta tables under `root`, one per asset: asset key `refined/orders` -> `<root>/refined/orders`."""

    root: str

    def uri(self, key: dg.AssetKey | Sequence[str]) -> str:
        path = key.path if isinstance(key, dg.AssetKey) else list(key)
        return str(Path(self.root, *path))

    def exists(self, key: dg.AssetKey | Sequence[str]) -> bool:
        return delta_tables.exists(self.uri(key))

    def version(self, key: dg.AssetKey | Sequence[str]) -> int | None:
        return delta_tables.version(self.uri(key))

    def table_id(self, key: dg.AssetKey | Sequence[str]) -> str | None:
        uri = self.uri(key)
        return delta_tables.table_id(uri) if delta_tables.exists(uri) else None

    def scan(self, key: dg.AssetKey | Sequence[str]) -> pl.LazyFrame:
        """Lazy read of the current snapshot; a clear error when the table was never written."""
        uri = self.uri(key)
        if not delta_tables.exists(uri):
            name = "/".join(key.path if isinstance(key, dg.AssetKey) else key)
            raise FileNotFoundError(f"table {name} does not exist yet at {uri}: materialise it first")
        return delta_tables.scan(uri)

    def scan_or_none(self, key: dg.AssetKey | Sequence[str]) -> pl.LazyFrame | None:
        return self.scan(key) if self.exists(key) else None

    def newest(self, key: dg.AssetKey | Sequence[str], column: str) -> object | None:
        """The largest value of `column` in the table; None when the table or its rows are missing."""
        uri = self.uri(key)
        return delta_tables.newest(uri, column) if delta_tables.exists(uri) else None

    def committed_batches(self, key: dg.AssetKey | Sequence[str], batch_ids: list[str]) -> set[str]:
        return delta_tables.committed_batches(self.uri(key), batch_ids)
