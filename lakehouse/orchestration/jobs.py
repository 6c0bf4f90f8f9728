"""Jobs: everything, in dependency order, with every check."""

import dagster as dg

from lakehouse.raw.payments import RAW_PAYMENTS

build_lakehouse = dg.define_asset_job(
    "build_lakehouse",
    selection=dg.AssetSelection.all(),
    description="Extract every source, refine, quarantine, build the star schema and marts; run all checks.",
)

# What a new settlement file needs: its raw ingestion and everything downstream of it.
PAYMENTS_PATH = dg.AssetSelection.assets(RAW_PAYMENTS).downstream()
