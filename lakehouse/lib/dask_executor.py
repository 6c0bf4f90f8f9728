"""The Dask executor is `dagster-dask`'s, with two changes that running several runs on one cluster
needs (both found in dagster-dask 0.29's source):

- its workers run a step through Dagster's `execute_plan`, which claims no concurrency pool slot:
  here a step takes its pool's slot in the instance first (waiting while another run's step holds
  it) and frees it when done, as Dagster's own executors do, so the tables' exclusion
  (`lakehouse.lib.pools`) holds on the cluster too;
- its Dask task keys are `<job>.<step>`, the same in every run of a job: Dask would hand a second
  run the first run's result; here they also name the run;
- it hands Dask the run (a named tuple) as a task argument, which Dask 2026's task parser walks
  into and fails on ("Iteration is not allowed on `@record` RunOpConcurrency"): here what a step
  needs travels in one object Dask does not look into (`StepRequest`).

A step's work is its own partition or range of days: a backfill's facts rebuild only those days.
Dagster's Dask executor does not retry steps, so a day-sliced step whose days another run replaced
meanwhile fails (the run's failure alert says so) rather than running again: a re-run is safe.

A worker that dies while it runs a step (killed, out of memory, its machine gone) fails the run with
`DaskWorkerDiedError`, naming the worker: Dask would hand the step to another worker (up to the
scheduler's `allowed-failures`), but a step that may have written part of its work is not run twice
behind Dagster's back. Dask also runs again the finished steps whose results the dead worker held;
those have nothing left to do. Each table write is one Delta commit, so the dead step's table is unchanged
and running the job again is safe.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker

POOL_POLL_SECONDS = 0.5
ON_WORKER = "step runs on Dask worker "  # the engine event each step's task reports first


class DaskWorkerDiedError(RuntimeError):
    """A Dask worker died while it ran a step of the run."""

    def __init__(self, step_key: str, run_id: str, worker: str) -> None:
        self.step_key, self.run_id, self.worker = step_key, run_id, worker
        super().__init__(
            f"Dask worker {worker} died while it ran step {step_key} of run {run_id}, so the run "
            "failed. The step's table is unchanged (each table write is one Delta commit). Check "
            "that worker's log and its machine's memory (a worker killed by the OS or by its nanny "
            "for using too much memory is the usual cause) and that the cluster's workers are "
            "running (the scheduler's dashboard), then run the same job again."
        )

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:  # raised on a worker, pickled back
        return type(self), (self.step_key, self.run_id, self.worker)


@dg.executor(
    name="dask",
    requirements=dg.multiple_process_executor_requirements(),
    config_schema={
        "scheduler": dg.Field(
            dg.StringSource, is_required=False, description="A Dask scheduler's address: tcp://host:8786."
        ),
        "n_workers": dg.Field(
            int, default_value=2, description="Without a scheduler: the local cluster's worker processes."
        ),
    },
)
def pooled_dask_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    config = init_context.executor_config
    return PooledDaskExecutor(config.get("scheduler"), config["n_workers"])


class PooledDaskExecutor(DaskExecutor):
    """dagster-dask's executor whose steps hold their pool's slot and whose task keys name the run."""

    def __init__(self, scheduler: str | None, n_workers: int) -> None:
        local = {"n_workers": n_workers, "threads_per_worker": 1, "processes": True}
        super().__init__("existing" if scheduler else "local", {"address": scheduler} if scheduler else local)

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[Any]:
        import dask.distributed

        run = plan_context.dagster_run
        if self.cluster_type == "existing":
            cluster = self.cluster_configuration["address"]
        else:
            cluster = dask.distributed.LocalCluster(**self.build_dict(plan_context.job_name))
        with dask.distributed.Client(cluster) as client:
            futures: dict[str, Any] = {}
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    request = StepRequest(
                        step.key,
                        step.pool,
                        plan_context.reconstructable_job,
                        run,
                        plan_context.run_config,
                        plan_context.instance.get_ref(),
                        execution_plan.known_state,
                    )
                    after = [futures[k] for i in step.step_inputs for k in i.dependency_keys]
                    futures[step.key] = client.submit(
                        step_on_dask_worker,
                        request,
                        after,
                        key=f"{run.run_id}.{step.key}",
                        resources=get_dask_resource_requirements(step.tags),
                    )
            done = dask.distributed.as_completed(list(futures.values()), with_results=True)
            try:
                for _future, events in done:
                    yield from events
            except (dask.distributed.KilledWorker, DaskWorkerDiedError) as error:
                died = error if isinstance(error, DaskWorkerDiedError) else killed(error, run.run_id)
                storage = plan_context.instance.event_log_storage
                if storage.supports_global_concurrency_limits:  # the dead step's slot, if it held one
                    storage.free_concurrency_slot_for_step(run.run_id, died.step_key)
                raise died from error


def killed(error: Any, run_id: str) -> DaskWorkerDiedError:
    """Dask's `KilledWorker` (the scheduler gave up handing the step to another worker), as ours."""
    step_key = str(error.task).removeprefix(f"{run_id}.")
    return DaskWorkerDiedError(step_key, run_id, str(error.last_worker.address))


@dataclass(frozen=True)
class StepRequest:
    """One step of a run, as a worker needs it: Dagster's objects, in one that Dask does not walk."""

    step_key: str
    pool: str | None
    recon_job: Any
    run: Any
    run_config: Any
    instance_ref: Any
    known_state: Any


def step_on_dask_worker(request: StepRequest, after: Sequence[Any]) -> Any:
    """Run one step on a Dask worker (once the steps `after` are done), holding its pool's slot;
    refused when an earlier worker died running it (Dask gives a dead worker's tasks to another)."""
    r, step = request, [request.step_key]
    with dg.DagsterInstance.from_ref(r.instance_ref) as instance:
        if step_ended(instance, r):  # its result, kept by a worker that died since, asked for again
            return []
        announce_worker(instance, r)
        with pool_slot(instance, r.pool, r.run.run_id, step):
            return query_on_dask_worker(
                after, r.recon_job, r.run, r.run_config, step, r.instance_ref, r.known_state
            )


def step_ended(instance: dg.DagsterInstance, request: StepRequest) -> bool:
    """Whether the step already ran to its end in the run. Dask runs a finished task again when the
    worker holding its result died and a later step still waits for it: nothing is left to do."""
    ends = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    records = instance.get_records_for_run(request.run.run_id, of_type=ends).records
    return any(record.event_log_entry.step_key == request.step_key for record in records)


def announce_worker(instance: dg.DagsterInstance, request: StepRequest) -> None:
    """Record in the run which worker runs the step; raise when a worker already did (it died)."""
    from dask.distributed import get_worker

    records = instance.get_records_for_run(
        request.run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
    ).records
    entries = [record.event_log_entry for record in records]
    earlier = [
        e.message.removeprefix(ON_WORKER)
        for e in entries
        if e.step_key == request.step_key and e.message.startswith(ON_WORKER)
    ]
    if earlier:
        raise DaskWorkerDiedError(request.step_key, request.run.run_id, earlier[-1])
    worker = f"{get_worker().address} (pid {os.getpid()})"
    instance.report_engine_event(ON_WORKER + worker, request.run, step_key=request.step_key)


@contextmanager
def pool_slot(instance: dg.DagsterInstance, pool: str | None, run_id: str, step: list[str]) -> Iterator[None]:
    """Hold a slot of `pool` (none needed without one) for the step, as Dagster's executors claim it."""
    storage = instance.event_log_storage
    if pool is None or not storage.supports_global_concurrency_limits:
        yield
        return
    (step_key,) = step
    if pool not in {limit.name for limit in storage.get_pool_limits()}:
        storage.initialize_concurrency_limit_to_default(pool)  # `pools: default_limit` of dagster.yaml
    while not storage.claim_concurrency_slot(pool, run_id, step_key).is_claimed:
        time.sleep(POOL_POLL_SECONDS)
    try:
        yield
    finally:
        storage.free_concurrency_slot_for_step(run_id, step_key)
