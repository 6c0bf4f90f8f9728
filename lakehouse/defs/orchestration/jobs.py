"""Jobs: everything, in dependency order, with every check."""

import dagster as dg

from lakehouse.defs.refined.assets import REFINED_TABLES

build_lakehouse = dg.define_asset_job(
    "build_lakehouse",
    selection=dg.AssetSelection.all(),
    description="Extract every source, refine, quarantine, build the star schema and marts; run all checks.",
)  # its executor is the definitions' (`executors.run_executor`: LAKEHOUSE_EXECUTOR)


def source_path(raw: list[dg.AssetKey]) -> dg.AssetSelection:
    """What new data in a source's raw tables needs: their ingestion and everything downstream of
    it, and the tables its refined table looks up, with their raw sources (a payment is converted
    at its settlement day's exchange rate, so the day's rates are fetched in the same run)."""
    path = dg.AssetSelection.assets(*raw).downstream()
    lookups = [key for t in REFINED_TABLES if t.raw_key in raw for key in t.lookups.values()]
    return path | dg.AssetSelection.assets(*lookups).upstream(depth=1) if lookups else path
