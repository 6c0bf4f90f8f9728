"""The erasure request journal: an erasure interrupted midway is finished by running it again.

Written before the first table is touched, as `<data>/erasure/requests/<request id>.json` (readable
by its owner only): the request id, when it started, the person (the id, emails and email hashes
that the erasure matches and the verification searches for) and each table's result as soon as
that table is erased. `lakehouse erase` for the same person (by id, or by an email whose hash the
journal holds) resumes the open request, even once raw no longer holds them: tables already erased
keep their recorded result, the others are erased, then all are purged, verified and certified,
and the journal is deleted, so the person's identifiers are kept no longer than the request is open.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REQUESTS = Path("erasure", "requests")


@dataclass
class Journal:
    path: Path
    request_id: str
    started_at: str
    subject: dict[str, Any]  # the erasure's `Subject`, as JSON
    tables: dict[str, dict | None] = field(default_factory=dict)  # table -> its result (None: nothing to do)

    def record(self, table: str, result: dict | None) -> None:
        """Record a table's result once it is committed."""
        self.tables[table] = result
        self.save()

    def close(self) -> None:
        """The request is certified: forget the person."""
        self.path.unlink(missing_ok=True)

    def save(self) -> None:
        state = {k: v for k, v in asdict(self).items() if k != "path"}
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(state, indent=1))  # tables in the order they were erased
        partial.chmod(0o600)
        os.replace(partial, self.path)  # whole or not at all


def start(data_dir: Path, request_id: str, subject: dict[str, Any]) -> Journal:
    folder = data_dir / REQUESTS
    folder.mkdir(parents=True, exist_ok=True)
    journal = Journal(folder / f"{request_id}.json", request_id, datetime.now(UTC).isoformat(), subject)
    journal.save()
    return journal


def open_requests(data_dir: Path) -> list[Journal]:
    """The requests started and not certified, oldest first."""
    found = []
    for path in sorted((data_dir / REQUESTS).glob("*.json")):
        found.append(Journal(path, **json.loads(path.read_text())))
    return sorted(found, key=lambda j: j.started_at)


def find_open(data_dir: Path, customer_id: int | None, email_hash: str | None) -> Journal | None:
    """The open request for this person (by id, or by their email's keyed hash), if any."""
    for journal in open_requests(data_dir):
        subject = journal.subject
        if subject["customer_id"] == customer_id or email_hash in subject["email_hashes"]:
            return journal
    return None
