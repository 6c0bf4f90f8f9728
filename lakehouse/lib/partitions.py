"""Daily partitions of the day-sliced facts, and backfills of a range of days.

The facts of order lines, payments and clickstream sessions are stored in day slices (order day,
settlement day, session day). They are daily-partitioned assets with a single-run backfill policy,
used two ways:

- the daily build and the sensors run them without a partition: each rebuilds the days whose
  inputs changed since it last ran (incremental);
- a backfill (the UI's partition picker, or `lakehouse backfill --from … --to …`) runs them for a
  range of days in one run: each rebuilds those days from refined and replaces exactly their
  slices (with, if any, the days changed since its last build: see `with_backfill`). The marts
  downstream (unpartitioned, as Dagster cannot pass a partitioned input through an unpartitioned
  run) take in the rebuilt days as they take in any change: by the facts' `_built_at`.
"""

import warnings
from datetime import date, timedelta

import dagster as dg

# A single-run backfill policy is beta in Dagster 1.13 (we pin the minor version); say it once here,
# not on every import of a day-sliced asset.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)

# The first day of the shop's history, where the partitions start.
HISTORY_START = "2025-01-01"
# As declared: up to today (real sources deliver every day). The definitions end it where the
# data ends when they know where (`ending`), as of their load: Dagster's time-window partitions
# end at a fixed day or follow the clock, so new simulated days appear once the code location is
# reloaded (runs that write them record their partitions meanwhile: `io_manager`).
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=HISTORY_START, end_offset=1)
# Partitioned, as the day-sliced tables are (spread into their asset decorators).
DAY_SLICED = {"partitions_def": DAILY_PARTITIONS, "backfill_policy": dg.BackfillPolicy.single_run()}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def ending(end: date | None) -> dg.DailyPartitionsDefinition:
    """The daily partitions up to the day before `end` (None: up to today, as declared)."""
    if end is None:
        return DAILY_PARTITIONS
    return dg.DailyPartitionsDefinition(start_date=HISTORY_START, end_date=end.isoformat())


def backfill_days(context: dg.AssetExecutionContext) -> list[date] | None:
    """The days a run for one partition or a range of them rebuilds; None in an unpartitioned
    (incremental) run."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    return [first + timedelta(days=n) for n in range((end - first).days)]


def with_backfill(context: dg.AssetExecutionContext, changed: list[date] | None) -> list[date] | None:
    """The days a run rebuilds: those whose inputs changed, plus in a backfill the days asked for.

    A backfill also takes in what changed since the last build, so that the table's watermarks
    keep meaning "everything before this is in", on every day. None: every day (no table yet).
    """
    asked = backfill_days(context)
    if asked is None or changed is None:
        return changed
    return sorted(set(changed) | set(asked))


def range_tags(first: date, last: date, days: dg.DailyPartitionsDefinition | None = None) -> dict[str, str]:
    """The tags that make one run cover the days `first`..`last` of every partitioned asset it runs
    (of `days`, when given: the range must end by their last day, where the data ends)."""
    if last < first:
        raise ValueError(f"backfill range ends ({last}) before it starts ({first})")
    if first < date.fromisoformat(HISTORY_START):
        raise ValueError(f"backfill range starts ({first}) before the history does ({HISTORY_START})")
    newest = days.get_last_partition_key() if days is not None else None
    if newest is not None and last.isoformat() > newest:
        raise ValueError(f"backfill range ends ({last}) after the data does ({newest})")
    return {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}
