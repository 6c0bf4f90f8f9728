"""Warnings a run owes its user, carried in an asset's output metadata so they reach the run
summary (`lakehouse run`) and the quality report, not only the event log.

- `run_warnings`: one line each, shown as they are in the run summary (e.g. a file corrected by a
  new version of it, and how many rows it changed);
- `rows_held_back`: rows kept out of a table for now, by reason (waiting for a rate, for their
  order header). A dict of numbers, so the quality metrics record it (`rows_held_back`, reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

RUN_WARNINGS = "run_warnings"
HELD_BACK = "rows_held_back"


def warning_metadata(lines: Sequence[str] = (), held_back: Mapping[str, int] | None = None) -> dict:
    """Output metadata for the run's warnings: the lines, and the rows held back by reason (every
    reason listed, 0 too, so that the metrics show it going back to 0); each held-back reason with
    rows is a line as well."""
    held = dict(held_back or {})
    shown = [*lines, *(f"{n:,} {reason}" for reason, n in held.items() if n)]
    metadata: dict[str, object] = {RUN_WARNINGS: dg.MetadataValue.json(shown)}
    if held_back is not None:
        metadata[HELD_BACK] = dg.MetadataValue.json(held)
    return metadata


def warnings_of(metadata: Mapping[str, object]) -> list[str]:
    """The warning lines in an output's (or materialisation's) metadata."""
    entry = metadata.get(RUN_WARNINGS)
    return list(getattr(entry, "value", entry) or [])
