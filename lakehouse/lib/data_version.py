"""Data versions of the tables fed from outside Dagster (raw, file registries, quarantined files).

Dagster gives every materialisation a data version. For an asset with inputs it derives one from
the asset's code version and its inputs' data versions, so a refined or curated table is marked
unchanged exactly when what it was computed from is. An asset fed from outside (a raw table reads
a source system) has no inputs: Dagster's derived version would then be the same for every run,
whatever it ingested. So these assets set theirs: new when the run ingested rows, the previous one
when it ingested none. A run over sources with nothing new then says so all the way down: the
materialisations it records keep the data versions of the previous ones.
"""

import dagster as dg
import polars as pl

# The tag Dagster stores a materialisation's data version under.
DATA_VERSION_TAG = "dagster/data_version"


def ingested_data_version(
    context: dg.AssetExecutionContext, key: dg.AssetKey, rows: pl.DataFrame | None
) -> dg.DataVersion:
    """The data version of `key` after this run writes `rows`: this run's when it writes any (or
    when the table has none yet), else the version of its latest materialisation."""
    return data_version_after(context, key, wrote_rows=rows is not None and not rows.is_empty())


def data_version_after(
    context: dg.AssetExecutionContext, key: dg.AssetKey, wrote_rows: bool
) -> dg.DataVersion:
    """`ingested_data_version` of a run that writes rows as it reads them (known beforehand)."""
    if not wrote_rows:
        previous = latest_data_version(context.instance, key)
        if previous is not None:
            return previous
    return dg.DataVersion(context.run.run_id)


def latest_data_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> dg.DataVersion | None:
    """The data version of the latest materialisation of `key` (None: never materialised)."""
    records = instance.fetch_materializations(key, limit=1).records
    materialization = records[0].asset_materialization if records else None
    value = None if materialization is None else (materialization.tags or {}).get(DATA_VERSION_TAG)
    return None if value is None else dg.DataVersion(value)
