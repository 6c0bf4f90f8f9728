"""The PII scanner: clear personal data in the catalog's views, as a reader would see it.

A text column of any served view (curated tables included: their views are never masked) holding
an email address, or exactly one of the customers' first or last names, is a finding. Masked
columns read `***` and pass; a finding means direct PII reached a table that does not declare it
(a curated table, say) or a view that fails to mask it.
"""

from __future__ import annotations

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


def scan(con: duckdb.DuckDBPyConnection, names: list[str]) -> list[Finding]:
    """Every text column of every view holding emails or exact `names`; one query per view."""
    findings = []
    for view, columns in text_columns(con).items():
        counts = ", ".join(
            f"count(*) FILTER (regexp_matches({c}, $email)), count(*) FILTER (list_contains($names, {c}))"
            for c in map(quote_identifier, columns)
        )
        row = con.sql(f"SELECT {counts} FROM {view}", params={"email": EMAIL_PATTERN, "names": names})
        values = row.fetchall()[0]
        for i, column in enumerate(columns):
            emails, matched = values[2 * i], values[2 * i + 1]
            if emails or matched:
                findings.append(Finding(view.replace('"', ""), column, emails, matched))
    return findings
