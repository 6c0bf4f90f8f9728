"""Jobs: everything, in dependency order, with every check."""

import dagster as dg

from lakehouse.raw.exchange_rates import RAW_EXCHANGE_RATES
from lakehouse.raw.payments import RAW_PAYMENTS

# In-process by default: on a small machine the multiprocess executor costs seconds per step.
# The launchpad can switch a run to `multiprocess` by editing the `execution` config.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}

build_lakehouse = dg.define_asset_job(
    "build_lakehouse",
    selection=dg.AssetSelection.all(),
    description="Extract every source, refine, quarantine, build the star schema and marts; run all checks.",
    executor_def=dg.multi_or_in_process_executor,
    config=IN_PROCESS,
)

# What a new settlement file needs: its raw ingestion and everything downstream of it, and the
# day's exchange rates (a payment is converted at its settlement day's rate).
PAYMENTS_PATH = dg.AssetSelection.assets(RAW_PAYMENTS).downstream() | dg.AssetSelection.assets(
    RAW_EXCHANGE_RATES
).downstream(depth=1)
