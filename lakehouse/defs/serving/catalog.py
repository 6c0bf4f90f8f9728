"""The serving catalog as its own step: an asset downstream of every table, so it runs last.

Its dependencies are every table the loaded definitions hold (declared sources' included), so
`lakehouse.definitions` builds it once the defs folder is loaded (`catalog_asset(table_keys(…))`).

Whatever a run materialises (the build job, a sensor's or schedule's source path, a backfill of
some days), the catalog is downstream of it and in the run's selection, and is published once
the run's writes are done. A run that fails skips it: the catalog keeps the tables as they were
at the last publish until the next run, or the automation below, republishes it.

When some tables are materialised without it (one asset from the UI, a partition backfill from
the UI, a run that failed after writing some tables), its eager automation condition requests a
run of the catalog alone once none of its inputs is still being written. `dg dev`'s daemon
evaluates it through `serving_catalog_automation`.
"""

import dagster as dg

from lakehouse.lib.pools import table_pool
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.serving.catalog import CatalogSummary, publish_catalog
from lakehouse.serving.resource import ServingCatalog

CATALOG = dg.AssetKey(["serving", "catalog"])
TABLE_GROUPS = ("raw", "refined", "quarantine", "curated")
# Eager, except that it need not wait for every dependency to exist: a lakehouse whose sensors
# never saw a file (or whose day-sliced facts were never run for one day) still gets its catalog.
WHEN_ANY_TABLE_CHANGES = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


def summary_metadata(summary: CatalogSummary) -> dict[str, dg.MetadataValue]:
    """What the UI shows of a publish: where, how many views, and each table's Delta version."""
    rows = "\n".join(f"| `{name}` | {version} |" for name, version in sorted(summary.tables.items()))
    return {
        "path": dg.MetadataValue.path(str(summary.catalog_path)),
        "views": dg.MetadataValue.int(len(summary.tables)),
        "tables": dg.MetadataValue.md(f"| view | Delta version |\n| --- | --- |\n{rows}"),
        "duration_seconds": dg.MetadataValue.float(round(summary.duration_seconds, 3)),
    }


def table_keys(definitions: dg.Definitions) -> list[dg.AssetKey]:
    """Every Delta table the definitions hold: the assets of the raw, refined, quarantine and
    curated groups, declared sources' (built by their components) included."""
    specs = (spec for asset in definitions.assets or [] for spec in _specs(asset))
    return sorted({spec.key for spec in specs if spec.group_name in TABLE_GROUPS})


def _specs(asset: object) -> list[dg.AssetSpec]:
    if isinstance(asset, dg.AssetsDefinition):
        return list(asset.specs)
    return [asset] if isinstance(asset, dg.AssetSpec) else []


def catalog_asset(tables: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The catalog step, downstream of `tables` (every table: see `table_keys`)."""

    @dg.asset(
        key=CATALOG,
        deps=tables,
        pool=table_pool(CATALOG),
        description=(
            "The DuckDB catalog (`lakehouse sql`, `duckdb -readonly`): a schema per layer and a view per "
            "Delta table over its current snapshot, rebuilt and swapped in atomically."
        ),
        group_name="serving",
        kinds={"duckdb"},
        automation_condition=WHEN_ANY_TABLE_CHANGES,
    )
    def catalog(store: DeltaStore, serving_catalog: ServingCatalog) -> dg.MaterializeResult:
        summary = publish_catalog(store.root, serving_catalog)
        return dg.MaterializeResult(metadata=summary_metadata(summary))

    return catalog


serving_catalog_automation = dg.AutomationConditionSensorDefinition(
    "serving_catalog_automation",
    target=dg.AssetSelection.assets(CATALOG),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Republishes the catalog after tables were materialised without it.",
)
