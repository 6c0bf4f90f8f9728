"""Where the steps of a launched run run, chosen by `LAKEHOUSE_EXECUTOR`: in the run's process (the
default: on a small machine a process per step costs seconds), a process per step, or a Dask cluster.
The Dask executor is in `lakehouse.lib.dask_executor`, imported only when chosen: dask and pandas
add about 0.7 s to the start of every process that loads the definitions.
"""

import dagster as dg

from lakehouse.settings import Settings


def run_executor(settings: Settings) -> dg.ExecutorDefinition:
    """The executor of every job (and of the sensors' and schedules' runs) by `settings.executor`."""
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor
    if settings.executor == "dask":
        from lakehouse.lib.dask_executor import pooled_dask_executor

        cluster = {"scheduler": settings.dask_scheduler} if settings.dask_scheduler else {}
        return pooled_dask_executor.configured({**cluster, "n_workers": settings.dask_workers})
    return dg.in_process_executor
