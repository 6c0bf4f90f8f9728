"""Running the build job from the command line: progress while it runs, a summary at the end.

Runs go through the instance the caller passes: `lakehouse run` passes the project's (the folder of
its `dagster.yaml`), so they appear in the UI's run history exactly like runs launched from the UI.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import dagster as dg

from lakehouse.defs.orchestration.reaper import liveness_tags
from lakehouse.defs.serving.catalog import CATALOG
from lakehouse.lib.quality.run_warnings import warnings_of
from lakehouse.settings import Settings

Echo = Callable[[str], None]
BUILD_JOB = "build_lakehouse"
DAGSTER_RECORD_ATTRIBUTE = "dagster_meta"


class _ProgressHandler(logging.Handler):
    """One line per finished asset, failed check or failed step; nothing else.

    The partitions an asset's step materialised (a backfill's days, or the days an incremental run
    rebuilt) are summed up on its line, not listed one a line: a year's backfill is one line."""

    def __init__(self, echo: Echo) -> None:
        super().__init__(logging.DEBUG)
        self.echo = echo
        self.partitions: dict[str, list[str]] = {}  # per asset, those materialised since its last line

    def emit(self, record: logging.LogRecord) -> None:
        # Dagster's log manager attaches the structured event to each record it hands a logger.
        event = (getattr(record, DAGSTER_RECORD_ATTRIBUTE, None) or {}).get("dagster_event")
        if event is None:
            return
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            asset = materialization.asset_key.to_user_string()
            if materialization.partition:
                self.partitions.setdefault(asset, []).append(materialization.partition)
                return
            rows = materialization.metadata.get("dagster/row_count")
            self._line(asset, f"{rows.value:>10,} rows" if rows is not None else "")
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            for asset in list(self.partitions):  # a partitioned run's assets: partitions only
                self._line(asset, "")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed:
                self.echo(f"  ✗ check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed")
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            self.echo(f"  ✗ step {event.step_key} failed: {_root_cause(event.event_specific_data.error)}")

    def _line(self, asset: str, shown: str) -> None:
        self.echo(f"  ✓ {asset:<32}{shown}{partition_summary(self.partitions.pop(asset, []))}")


def partition_summary(partitions: list[str]) -> str:
    """` (2025-03-01)`, ` (365 partitions: 2025-01-01 .. 2025-12-31)`, or nothing."""
    if not partitions:
        return ""
    if len(partitions) == 1:
        return f" ({partitions[0]})"
    ordered = sorted(partitions)
    return f" ({len(ordered)} partitions: {ordered[0]} .. {ordered[-1]})"


def _root_cause(error) -> str:
    """The innermost error's message: the user's exception, not Dagster's wrapper around it."""
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "unknown error"
    return re.sub(r"^[\w.]+\.(\w+): ", r"\1: ", error.message.strip())  # short class name


def progress_logger(echo: Echo) -> dg.LoggerDefinition:
    @dg.logger(description="Prints one line per materialised asset and per failure.")
    def progress(_init_context) -> logging.Logger:
        log = logging.getLogger("lakehouse.progress")
        log.handlers = [_ProgressHandler(echo)]
        log.setLevel(logging.DEBUG)
        log.propagate = False
        return log

    return progress


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    check: str
    passed: bool
    severity: str = "ERROR"  # of a failure: ERROR, or WARN (reported, blocks nothing)

    @property
    def warned(self) -> bool:
        return not self.passed and self.severity == "WARN"


@dataclass(frozen=True)
class BuildOutcome:
    run_id: str
    success: bool
    checks: list[CheckOutcome]
    warnings: list[str] = field(default_factory=list)  # `asset: what` (rows held back, files corrected)
    skipped: int = 0  # checks the run planned that had nothing to examine (no result)


def run_warnings(result: dg.ExecuteInProcessResult) -> list[str]:
    """The warnings the run's assets reported with their outputs (`lakehouse.lib.quality.run_warnings`)."""
    return [
        f"{event.asset_key.to_user_string()}: {line}"
        for event in result.get_asset_materialization_events()
        for line in warnings_of(event.materialization.metadata)
    ]


def run_build(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    echo: Echo,
    selection: list[dg.AssetKey] | None = None,
    tags: dict[str, str] | None = None,
) -> BuildOutcome:
    """Materialise every asset (or `selection`) with all checks, printing progress.

    `tags` are the run's: a partition range makes it a backfill of those days. The run is also
    tagged with this process (`liveness_tags`): killed, it is reaped rather than left STARTED.
    """
    job = definitions.resolve_job_def(BUILD_JOB).with_logger_defs({"progress": progress_logger(echo)})
    run = partial(job.execute_in_process, run_config={"loggers": {"progress": {}}}, instance=instance)
    result = run(raise_on_error=False, asset_selection=selection, tags={**(tags or {}), **liveness_tags()})
    if not result.success and (selection is None or CATALOG in selection):
        # A failed run skips the catalog step, downstream of every table: publish what it did write.
        run(raise_on_error=False, asset_selection=[CATALOG])
    evaluations = result.get_asset_check_evaluations()
    checks = [
        CheckOutcome(e.asset_key.to_user_string(), e.check_name, e.passed, e.severity.value)
        for e in evaluations
    ]
    # (recorded when the run was created, so in the instance's log, not among the run's own events)
    planned_type = dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
    planned = {
        entry.dagster_event.event_specific_data.asset_check_key
        for entry in instance.all_logs(result.run_id, of_type=planned_type)
        if entry.dagster_event is not None
    }
    skipped = len(planned - {e.asset_check_key for e in evaluations})
    return BuildOutcome(result.run_id, result.success, checks, run_warnings(result), skipped)


def summary(settings: Settings, outcome: BuildOutcome) -> str:
    """Tables per layer with rows and Delta version, checks, quarantine, and what to do next."""
    from lakehouse.serving.query import CatalogNotFoundError, list_tables

    try:
        tables = list_tables(settings.catalog_path)
    except CatalogNotFoundError:
        tables = []
    lines = [f"\nRun {outcome.run_id}: {'succeeded' if outcome.success else 'FAILED'}", ""]
    if tables:
        lines.append(f"  {'table':<34}{'rows':>12}{'version':>9}")
    else:
        lines.append("  no tables yet: the first step failed (see the error above)")
    for info in tables:
        lines.append(f"  {info.schema + '.' + info.table:<34}{info.rows or 0:>12,}{info.version:>9}")
    failed = [c for c in outcome.checks if not c.passed and not c.warned]
    warned = [c for c in outcome.checks if c.warned]
    passed = len(outcome.checks) - len(failed) - len(warned)
    quarantine = [t for t in tables if t.schema == "quarantine" and t.rows]
    lines += [
        "",
        f"  checks: {passed} passed, {len(failed)} failed, {len(warned)} warnings"
        + (f", {outcome.skipped} skipped (nothing new to examine)" if outcome.skipped else "")
        + "".join(f"\n    ✗ {c.asset}:{c.check}" for c in failed)
        + "".join(f"\n    ! {c.asset}:{c.check} (warning)" for c in warned),
        f"  warnings: {len(outcome.warnings)}" + "".join(f"\n    ! {w}" for w in outcome.warnings),
        f"  rows in quarantine: {sum(t.rows for t in quarantine):,}"
        + "".join(f"\n    quarantine.{t.table}: {t.rows:,}" for t in quarantine),
    ]
    if quarantine:
        example = f"select _rules, count(*) from quarantine.{quarantine[0].table} group by all"
        lines.append(f'    why: lakehouse sql "{example}"')
    if outcome.success:
        lines += [
            "",
            "Next:",
            "  open the UI:   make dev          (then http://127.0.0.1:3000)",
            '  query:         .venv/bin/lakehouse sql "select * from curated.mart_daily_sales limit 10"',
            "  list tables:   .venv/bin/lakehouse tables",
        ]
    else:
        lines += ["", "The run failed: fix the error above and run again (completed steps are not redone)."]
    return "\n".join(lines)
