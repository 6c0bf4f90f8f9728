"""Erasure on request (GDPR art. 17): a customer removed or anonymised in every layer, with proof.

What happens to whom, decided once (`RULES`):

- the person's own records (customers in raw, refined, quarantine; their `dim_customer` versions and
  their `mart_customer_rfm` row) are **deleted**;
- their facts (orders, order lines, payments, clickstream events and sessions) **stay, attributed
  to the unknown member** (`customer_id` -1, `customer_key` -1, the session's user `customer:-1`,
  no visitor id on their events and sessions):
  revenue, order counts and funnel totals stay what they were, and nothing left points back to the
  person (the unknown member already holds every fact whose customer is unknown);
- audit log entries naming the person (a `quarantine fix --where "customer_id = 207"`, say) have
  their details replaced by the erasure's request id.

Then the old Delta versions are purged: each table touched gets a checkpoint at its new version,
the log entries before it are deleted (time travel before the erasure ends, which the law
requires), and exactly the unreferenced data files that still hold the person are deleted. The
interlock: the CLI runs an erasure under the run lock (no build writes meanwhile), and the catalog
is republished before any file goes, so a new query never reads a purged file.

A request journal (`erasure_journal`) records the person and each table's result as it goes: an
erasure interrupted midway (a crash, a failing table) is finished by running it again, even after
raw no longer holds the person. The tables may be in a folder or on an object store
(`LAKEHOUSE_TABLES_URI`): every path goes through `location`.

The customer's keyed token joins the suppression list, which raw ingestion applies, so a source
that still holds the person never brings them back. The certificate lists each table, its Delta
version after the erasure, rows deleted or anonymised, and each verification query with its
result (zero), signed with HMAC-SHA256 (`LAKEHOUSE_ERASURE_KEY`); it names the person only by
token.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl
from deltalake import CommitProperties, DeltaTable

from lakehouse.lib.privacy import ERASED_CUSTOMER_ID, SUBJECT_COLUMN, hmac_sha256, subject_tokens
from lakehouse.lib.storage import audit, delta_tables, location, suppression
from lakehouse.operations import erasure_journal
from lakehouse.operations.erasure_journal import Journal
from lakehouse.serving.catalog import publish_catalog
from lakehouse.serving.resource import ServingCatalog
from lakehouse.settings import Settings

ERASED_MEMBER = f"customer:{ERASED_CUSTOMER_ID}"
ERASURE_COMMIT_KEY = "lakehouse.erasure"


@dataclass(frozen=True)
class Rule:
    """What an erasure does to one table's rows of the person (matched on `customer_id`)."""

    table: str  # layer/table
    action: Literal["delete", "anonymise"]
    # anonymise: column -> SQL of its new value (`{member}`: the unknown member's user key)
    updates: dict[str, str] = field(default_factory=dict)


_TO_MEMBER = {SUBJECT_COLUMN: str(ERASED_CUSTOMER_ID)}
_KEYS_TO_MEMBER = {**_TO_MEMBER, "customer_key": str(ERASED_CUSTOMER_ID)}
_EVENT = {**_TO_MEMBER, "anonymous_id": "NULL"}
_SESSION = {
    **_EVENT,
    "session_id": f"replace(session_id, user_key, '{ERASED_MEMBER}')",
    "user_key": f"'{ERASED_MEMBER}'",
}
RULES = (
    *(Rule(f"{layer}/customers", "delete") for layer in ("raw", "refined", "quarantine")),
    Rule("curated/dim_customer", "delete"),
    Rule("curated/mart_customer_rfm", "delete"),
    *(Rule(f"{layer}/orders", "anonymise", _TO_MEMBER) for layer in ("raw", "refined", "quarantine")),
    # the visitor id too, as in the sessions: a tracker may send it with the customer's, and a
    # session rebuilt from the unknown member's events (a late one) would carry it again
    *(Rule(f"{layer}/events", "anonymise", _EVENT) for layer in ("raw", "refined", "quarantine")),
    Rule("curated/fact_order_items", "anonymise", _KEYS_TO_MEMBER),
    Rule("curated/fact_payments", "anonymise", _KEYS_TO_MEMBER),
    Rule("refined/sessions", "anonymise", _SESSION),
    Rule("curated/fact_sessions", "anonymise", {**_SESSION, "customer_key": str(ERASED_CUSTOMER_ID)}),
)
AUDIT_TABLE = "audit/log"


class ErasureError(ValueError):
    """The request names nobody the lakehouse holds, or is ambiguous."""


@dataclass(frozen=True)
class Subject:
    customer_id: int
    emails: tuple[str, ...]  # every email raw ever held for them (to prove none is left)
    email_hashes: tuple[str, ...]

    def identifiers(self) -> tuple[str, ...]:
        """The texts that identify the person on their own, searched for in every file afterwards."""
        return (*self.emails, *self.email_hashes)

    @classmethod
    def of(cls, journal: Journal) -> Subject:
        found = journal.subject
        return cls(found["customer_id"], tuple(found["emails"]), tuple(found["email_hashes"]))


def _uri(root: Path | str, table: str) -> str:
    return location.join(root, *table.split("/"))


def erase_and_certify(settings: Settings, customer_id: int | None, email: str | None) -> tuple[Path, dict]:
    """The whole erasure of one person (by id or email): erase, republish the catalog so readers
    leave the old snapshots, purge, verify, sign, audit; the certificate's path and content.

    The caller holds the run lock (no build writes meanwhile). An open request for the same person
    (an earlier attempt that stopped midway) is resumed and finished.
    """
    tables = settings.tables_uri
    journal = _open_request(settings, customer_id, email)
    subject = Subject.of(journal)
    body = erase(tables, subject, settings.pii_key, journal)
    serving = ServingCatalog.from_settings(settings)  # reads the tables where they are
    publish_catalog(tables, serving)
    certificate = purge_and_certify(tables, subject, body, settings.erasure_key)
    record(tables, certificate)
    publish_catalog(tables, serving)
    path = settings.data_dir / "erasure" / f"{certificate['request_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(certificate, indent=2, sort_keys=True, default=str) + "\n")
    journal.close()
    return path, certificate


def _open_request(settings: Settings, customer_id: int | None, email: str | None) -> Journal:
    """The open request for this person, else a new one (the person found in raw)."""
    email_hash = None if email is None else _email_hash(email, settings.pii_key)
    journal = erasure_journal.find_open(settings.data_dir, customer_id, email_hash)
    if journal is not None:
        return journal
    subject = find_subject(settings.tables_uri, settings.pii_key, customer_id, email)
    request_id = f"erasure-{uuid.uuid4().hex[:12]}"
    return erasure_journal.start(settings.data_dir, request_id, asdict(subject))


def _email_hash(email: str, pii_key: str) -> str:
    return hmac_sha256(pl.Series([email.strip().lower()]), pii_key).item()


def find_subject(root: Path | str, pii_key: str, customer_id: int | None, email: str | None) -> Subject:
    """The person to erase, by id or by email (matched as refined stores it: its keyed hash)."""
    raw = delta_tables.scan(_uri(root, "raw/customers"))
    if email is not None:
        normalised = email.strip().lower()
        token = _email_hash(email, pii_key)
        refined = delta_tables.scan(_uri(root, "refined/customers"))
        by_hash = refined.filter(pl.col("email_hash") == token).select(SUBJECT_COLUMN)
        by_email = raw.filter(pl.col("email").str.strip_chars().str.to_lowercase() == normalised)
        ids = pl.concat([by_hash, by_email.select(SUBJECT_COLUMN)]).unique().collect().to_series()
        if ids.len() != 1:
            raise ErasureError(f"the email matches {ids.len()} customers: name one with --customer")
        customer_id = int(ids.item())
    assert customer_id is not None
    rows = raw.filter(pl.col(SUBJECT_COLUMN) == customer_id).select("email").collect()
    emails = {e.strip().lower() for e in rows.to_series().drop_nulls().to_list() if e.strip()}
    if rows.is_empty():
        raise ErasureError(f"customer {customer_id} is not in raw.customers")
    hashes = hmac_sha256(pl.Series(sorted(emails), dtype=pl.String), pii_key).to_list()
    return Subject(customer_id, tuple(sorted(emails)), tuple(hashes))


def erase(root: Path | str, subject: Subject, pii_key: str, journal: Journal) -> dict:
    """Erase `subject` from every table's current version and suppress them, each table's result
    journaled as it is committed (tables the journal has are done); the certificate's body
    (unsigned: `purge_and_certify` completes it)."""
    request_id = journal.request_id
    token = subject_tokens(pl.Series([subject.customer_id]), pii_key).item()
    commit = {ERASURE_COMMIT_KEY: request_id}
    for rule in RULES:
        if rule.table not in journal.tables:
            journal.record(rule.table, _apply(root, rule, subject.customer_id, commit))
    if AUDIT_TABLE not in journal.tables:
        journal.record(AUDIT_TABLE, _scrub_audit(root, subject, request_id, commit))
    suppression.add(root, token, request_id)
    return {
        "request_id": request_id,
        "subject_token": token,
        "erased_at": journal.started_at,
        "decision": "own records deleted; facts kept, attributed to the unknown member (-1)",
        "tables": [dict(result) for result in journal.tables.values() if result is not None],
    }


def purge_and_certify(root: Path | str, subject: Subject, body: dict, erasure_key: str) -> dict:
    """Purge the old versions and files of the tables the erasure touched, verify, then sign.

    Call once the catalog no longer serves the pre-erasure snapshots (the CLI republishes first).
    """
    touched = [t for t in body["tables"] if t["rows_affected"]]
    for table in touched:
        uri = _uri(root, table["table"])
        table["files_purged"], table["log_entries_purged"] = _purge(uri, _holding(table["table"], subject))
        table["version_after"] = DeltaTable(uri).version()
    for table in body["tables"]:
        table["verification"]["result"] = _verify(root, table, subject)
    body["files_holding_identifiers"] = len(list(traces(root, subject.identifiers())))
    body["signature"] = sign(body, erasure_key)
    return body


def _apply(root: Path | str, rule: Rule, customer_id: int, commit: dict[str, str]) -> dict | None:
    uri = _uri(root, rule.table)
    if not delta_tables.exists(uri):
        return None
    table = DeltaTable(uri)
    predicate = _match(table, customer_id)
    if predicate is None:
        return None
    properties = _keeping_spec(uri, commit)
    if rule.action == "delete":
        metrics = table.delete(predicate, commit_properties=properties)
        rows = metrics["num_deleted_rows"]
    else:
        present = set(table.schema().to_arrow().names)
        updates = {column: sql for column, sql in rule.updates.items() if column in present}
        rows = table.update(updates=updates, predicate=predicate, commit_properties=properties)[
            "num_updated_rows"
        ]
    rows = rows or _erased_before(uri, commit[ERASURE_COMMIT_KEY])
    return _result(rule.table, rule.action, rows, uri, "count(*) WHERE customer_id = $customer_id")


def _erased_before(uri: str, request_id: str) -> int:
    """Rows this request erased in an attempt that stopped before journaling it: its commit is the
    table's newest (no build writes while an erasure holds the run lock)."""
    newest = next(delta_tables.commits_newest_first(uri), {})
    if newest.get(ERASURE_COMMIT_KEY) != request_id:
        return 0
    metrics = newest.get("operationMetrics", {})
    return int(metrics.get("num_deleted_rows") or metrics.get("num_updated_rows") or 0)


def _keeping_spec(uri: str, commit: dict[str, str]) -> CommitProperties:
    """The erasure's commit metadata, with the table's write spec and code version: the purge
    deletes the older commits, and the spec is what names the columns the catalog masks, the code
    version what `lakehouse plan` compares with the code (without it, every erased table would
    show as changed)."""
    custom = delta_tables.custom_metadata(commit, delta_tables.spec_of(uri))
    code_version = delta_tables.newest_code_version(uri)
    if code_version:
        custom[delta_tables.CODE_VERSION_COMMIT_KEY] = code_version
    return CommitProperties(custom_metadata=custom)


def _match(table: DeltaTable, customer_id: int) -> str | None:
    """The delta-rs predicate selecting the person's rows (the id as the column's type)."""
    schema = table.schema().to_arrow()
    if SUBJECT_COLUMN not in schema.names:
        return None
    text = str(schema.field(SUBJECT_COLUMN).type) in ("string", "large_string", "string_view")
    return f"{SUBJECT_COLUMN} = '{customer_id}'" if text else f"{SUBJECT_COLUMN} = {customer_id}"


def _scrub_audit(root: Path | str, subject: Subject, request_id: str, commit: dict[str, str]) -> dict:
    """Audit entries naming the person keep their operation, table and time; their details become
    the erasure's request id."""
    uri = _uri(root, AUDIT_TABLE)
    rows = 0
    if delta_tables.exists(uri):
        predicate = " OR ".join(f"regexp_like(details, '{p}')" for p in _audit_patterns(subject))
        details = json.dumps({"erased_by": request_id})
        updated = DeltaTable(uri).update(
            updates={"details": f"'{details}'"},
            predicate=predicate,
            commit_properties=CommitProperties(custom_metadata=commit),
        )
        rows = updated["num_updated_rows"]
    return _result(AUDIT_TABLE, "anonymise", rows, uri, "count(*) WHERE details mentions the customer")


def _audit_patterns(subject: Subject) -> list[str]:
    """Regular expressions of audit details that name the person: their id in a predicate, their
    emails or email hashes."""
    escaped = [re.escape(i).replace("'", "''") for i in subject.identifiers()]
    return [rf"customer_id\s*(=|IN|in)\s*\(?\s*.?{subject.customer_id}\b", *escaped]


def _result(table: str, action: str, rows: int, uri: str, query: str) -> dict:
    return {
        "table": table,
        "action": action,
        "rows_affected": rows,
        "version_after": delta_tables.version(uri),
        "verification": {"query": f"SELECT {query}", "result": None},
    }


def _holding(table: str, subject: Subject) -> pl.Expr:
    """Rows of `table` that still hold the person (in a data file, live or not)."""
    if table == AUDIT_TABLE:
        return pl.any_horizontal(pl.col("details").str.contains(p) for p in _audit_patterns(subject))
    return pl.col(SUBJECT_COLUMN).cast(pl.String) == str(subject.customer_id)


def _verify(root: Path | str, table: dict, subject: Subject) -> int:
    """The verification query's result over the table's current version: rows still holding them."""
    uri = _uri(root, table["table"])
    if not delta_tables.exists(uri):
        return 0
    return delta_tables.scan(uri).filter(_holding(table["table"], subject)).select(pl.len()).collect().item()


def _purge(uri: str, holding: pl.Expr) -> tuple[int, int]:
    """Delete the unreferenced data files that hold the person, then checkpoint the table and
    delete its log entries before the checkpoint: (files purged, log entries purged)."""
    table = DeltaTable(uri)
    candidates = table.vacuum(retention_hours=0, dry_run=True, enforce_retention_duration=False)
    files = [location.path(uri, candidate) for candidate in candidates]
    holding_files = [f for f in files if f.exists() and _file_holds(f.read_bytes(), holding)]
    for file in holding_files:
        file.unlink()
    table.create_checkpoint()
    current = table.version()
    old_logs = [
        entry
        for entry in location.path(uri, "_delta_log").iterdir()
        if entry.is_file() and entry.name[:20].isdigit() and int(entry.name[:20]) < current
    ]
    for entry in old_logs:
        entry.unlink()
    return len(holding_files), len(old_logs)


def _file_holds(parquet: bytes, holding: pl.Expr) -> bool:
    return pl.read_parquet(io.BytesIO(parquet)).filter(holding).height > 0


def traces(root: Path | str, identifiers: tuple[str, ...]) -> Iterator[str]:
    """Every file under the tables' root (a folder or an object store's prefix) holding one of
    `identifiers`: Delta log JSON by its bytes, Parquet (data files and checkpoints) by its bytes and
    by its decoded text values."""
    needles = [i.encode() for i in identifiers if i]
    if not needles:
        return
    for file in sorted(location.path(root).rglob("*"), key=str):
        if not file.is_file():
            continue
        data = file.read_bytes()
        if any(n in data for n in needles) or (
            file.suffix == ".parquet" and _parquet_holds(data, identifiers)
        ):
            yield str(file)


def _parquet_holds(data: bytes, identifiers: tuple[str, ...]) -> bool:
    frame = pl.read_parquet(io.BytesIO(data))
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return bool(text) and frame.select(pl.any_horizontal(pl.col(text).is_in(list(identifiers))).any()).item()


def sign(body: dict, key: str) -> str:
    """HMAC-SHA256 of the certificate's canonical JSON (sorted keys), without its signature."""
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def verify(certificate: dict, key: str) -> bool:
    """Whether the certificate is unaltered and signed with `key`."""
    return hmac.compare_digest(certificate.get("signature", ""), sign(certificate, key))


def record(root: Path | str, certificate: dict) -> None:
    """Audit the erasure: its request id, the tables and rows, never the person."""
    audit.record(
        root,
        operation="erasure",
        table="*",
        version=None,
        details={
            "request_id": certificate["request_id"],
            "tables": {t["table"]: t["rows_affected"] for t in certificate["tables"]},
        },
    )
