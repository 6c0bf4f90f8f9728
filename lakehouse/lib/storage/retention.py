"""Retention as code: how long each table keeps its rows and its Delta history, and backups theirs.

A policy (`Retention`) is declared with its table: a spec's `retention` (refined and curated
tables), a refined table's quarantine policy (`RefinedTable.quarantine_retention`), and the
library tables' own (`audit.RETENTION`, `metrics.RETENTION`); every other table keeps the default:
its rows for ever, its history `HISTORY_DAYS`. `RetentionPolicies` gathers them and refuses, when
the definitions load, a policy that contradicts another or a promise:

- history shorter than the time travel that `restore` and week-old catalogs rely on;
- rows of a reconciled table (raw = refined + quarantined + duplicates) going on their own: raw
  rows go only with their quarantined record, refined rows never by age;
- a looked-up table (exchange rates) dropping rows a quarantine still holding records may replay;
- backups kept longer than the shortest row retention (expired rows would live on in them).

Landing files have one policy (`landing_days`): kept that long after they landed, then deleted
once raw holds them (`landing_expiry`, with its interlocks).

`expiry.apply` enforces them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Restore and time travel reach any version of the last week, and a catalog published a week ago
# still reads its files: no table's history may be shorter.
TIME_TRAVEL_DAYS = 7
HISTORY_DAYS = 7
RETENTION_KEY = "lakehouse/retention"  # the asset metadata entry describing the table's policy


class RetentionConflict(ValueError):
    """Policies that contradict each other or a promise; the message lists every contradiction."""


@dataclass(frozen=True)
class Retention:
    """How long a table keeps its rows (by `date_column`; None: for ever) and its Delta history.

    `expires_with`: tables whose rows of the same identity (`_batch_id`, `_row_number`) go with an
    expired row: a quarantined record's raw record.
    """

    history_days: int = HISTORY_DAYS
    rows_days: int | None = None
    date_column: str | None = None
    expires_with: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rows_days is not None and (self.rows_days < 1 or not self.date_column):
            raise ValueError(f"a row retention needs at least 1 day and a date column: {self}")
        if self.history_days < 0:
            raise ValueError(f"history of {self.history_days} days: it is at least 0")

    def describe(self) -> str:
        """One line for the UI, the dictionary and `lakehouse retention show`."""
        rows = "rows: kept"
        if self.rows_days is not None:
            rows = f"rows: {self.rows_days} days by {self.date_column}"
            if self.expires_with:
                rows += f" (with their records in {', '.join(self.expires_with)})"
        return f"{rows}; history: {self.history_days} days"

    def cutoff(self, now: datetime) -> datetime | None:
        return None if self.rows_days is None else now - timedelta(days=self.rows_days)


DEFAULT = Retention()
# Landing files: a month for a re-read or an audit, then raw is the only copy (`landing_expiry`).
LANDING_DAYS = 30


@dataclass(frozen=True)
class RetentionPolicies:
    """Every table's policy (`layer/table`; the others get `DEFAULT`), and the backups' days.

    `reconciled`: tables whose rows a reconciliation counts (raw and refined of each refined
    table); `lookups`: a looked-up table -> the tables whose quarantined records a replay converts
    with it. Contradictions raise `RetentionConflict` at construction.
    """

    tables: Mapping[str, Retention]
    backup_days: int
    reconciled: frozenset[str] = frozenset()
    lookups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Landing files are kept this long after they landed, once raw holds them (`landing_expiry`).
    landing_days: int = LANDING_DAYS

    def __post_init__(self) -> None:
        problems = self.contradictions()
        if problems:
            raise RetentionConflict("retention policies contradict:\n  - " + "\n  - ".join(problems))

    def of(self, table: str) -> Retention:
        return self.tables.get(table, DEFAULT)

    def contradictions(self) -> list[str]:
        problems = [
            f"{name}: history of {p.history_days} days is shorter than the {TIME_TRAVEL_DAYS} days that "
            "time travel, `lakehouse restore` and week-old catalogs are promised (TIME_TRAVEL_DAYS)"
            for name, p in self.tables.items()
            if p.history_days < TIME_TRAVEL_DAYS
        ]
        problems += [
            f"{name}: rows kept {p.rows_days} days, but its reconciliation (raw = refined + quarantined "
            "+ duplicates) needs every row: raw rows go only with their quarantined records"
            for name, p in self.tables.items()
            if name in self.reconciled and p.rows_days is not None
        ]
        for looked_up, users in self.lookups.items():
            kept = self.of(looked_up).rows_days
            for user in users:
                needed = self.of(user).rows_days
                if kept is not None and (needed is None or needed > kept):
                    problems.append(
                        f"{looked_up}: rows kept {kept} days, but {user} keeps records "
                        f"{needed or 'for ever'} days and a replay converts them with {looked_up}"
                    )
        if self.landing_days < 1:
            problems.append(f"landing files kept {self.landing_days} days: keep them at least a day")
        shortest = min((p.rows_days for p in self.tables.values() if p.rows_days), default=None)
        if self.backup_days < 1:
            problems.append(f"backups kept {self.backup_days} days: keep the newest at least a day")
        elif shortest is not None and self.backup_days > shortest:
            table = next(n for n, p in self.tables.items() if p.rows_days == shortest)
            problems.append(
                f"backups kept {self.backup_days} days would keep {table}'s rows past their "
                f"{shortest}-day retention: keep backups at most {shortest} days"
            )
        return problems
