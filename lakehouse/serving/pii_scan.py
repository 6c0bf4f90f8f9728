"""The PII scanner: clear personal data in the catalog's views, as a reader would see it.

A text column of any served view (curated tables included: their views are never masked) holding
an email address, or exactly one of the customers' first or last names, is a finding. Masked
columns read `***` and pass; a finding means direct PII reached a table that does not declare it
(a curated table, say) or a view that fails to mask it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

import duckdb

from lakehouse.serving.views import quote_identifier

# Anything shaped like an email address, in any case.
EMAIL_PATTERN = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
# Views not scanned: the catalog's own index.
UNSCANNED_SCHEMAS = ("_catalog",)


@dataclass(frozen=True)
class Finding:
    view: str
    column: str
    emails: int
    names: int


def text_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Each served view (`schema.view`) and its text columns."""
    rows = con.sql(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
        "WHERE NOT internal AND data_type = 'VARCHAR' AND schema_name NOT IN $skipped "
        "ORDER BY schema_name, table_name, column_index",
        params={"skipped": list(UNSCANNED_SCHEMAS)},
    ).fetchall()
    found: dict[str, list[str]] = {}
    for schema, view, column in rows:
        found.setdefault(f"{quote_identifier(schema)}.{quote_identifier(view)}", []).append(column)
    return found


def view_digests(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, str]:
    """Each served view (`schema.view`) and a digest of what a scan of it judges: its definition
    (its projection, masks included, and the very files it reads: Delta files never change in
    place) and the names looked for. Equal digests, equal findings."""
    looked_for = "\n".join(names)
    rows = con.sql(
        "SELECT schema_name, view_name, sql FROM duckdb_views() "
        "WHERE NOT internal AND schema_name NOT IN $skipped ORDER BY ALL",
        params={"skipped": list(UNSCANNED_SCHEMAS)},
    ).fetchall()
    return {
        f"{schema}.{view}": hashlib.sha256(f"{sql}\n{looked_for}".encode()).hexdigest()[:32]
        for schema, view, sql in rows
    }


def scan(
    con: duckdb.DuckDBPyConnection, names: list[str], views: Collection[str] | None = None
) -> list[Finding]:
    """Every text column of every view (of `views`, `schema.view`, when given) holding emails or
    exact `names`; one query per view."""
    findings = []
    lengths = [len(name) for name in names] or [0]
    params = {"email": EMAIL_PATTERN, "names": names, "shortest": min(lengths), "longest": max(lengths)}
    for view, columns in text_columns(con).items():
        if views is not None and view.replace('"', "") not in views:
            continue
        counts = ", ".join(_counts(column) for column in map(quote_identifier, columns))
        row = con.sql(f"SELECT {counts} FROM {view}", params=params)
        values = row.fetchall()[0]
        for i, column in enumerate(columns):
            emails, matched = values[2 * i], values[2 * i + 1]
            if emails or matched:
                findings.append(Finding(view.replace('"', ""), column, emails, matched))
    return findings


def _counts(column: str) -> str:
    """A column's values shaped like an email and equal to a name, each test run only on the values
    a cheap one lets through: an email has an `@`, a name has a name's length (CASE, unlike AND,
    evaluates the costly test on those rows only; 3x less CPU at scale 0.1)."""
    email = f"CASE WHEN contains({column}, '@') THEN regexp_matches({column}, $email) ELSE false END"
    named = (
        f"CASE WHEN length({column}) BETWEEN $shortest AND $longest "
        f"THEN list_contains($names, {column}) ELSE false END"
    )
    return f"count(*) FILTER ({email}), count(*) FILTER ({named})"
