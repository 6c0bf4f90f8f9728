"""`DatabaseTable`: a component type for a table of the shop database, one `defs.yaml` each."""

import dagster as dg

from lakehouse.components.source import DatabaseTableScaffolder, source_definitions
from lakehouse.defs.raw.shop_tables import build_raw_shop_asset
from lakehouse.sources.declared import TableSource
from lakehouse.sources.shop_tables import SourceTable, source_table


@dg.scaffold_with(DatabaseTableScaffolder)
class DatabaseTable(dg.Component, dg.Resolvable, TableSource):
    """A table of the shop database (`shop_db`): `raw/<name>`, its changed rows appended by
    `watermark` (re-reading `overlap_minutes` before it), tombstones for hard deletes with
    `reconcile_keys`; a `<name>_schedule` with `schedule`; `refined/<name>` as for file sets."""

    @property
    def table(self) -> SourceTable:
        return source_table(self)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return source_definitions(self, build_raw_shop_asset(self.table))
