"""The PII scanner finds clear emails and names in any served view, and passes masked ones."""

from __future__ import annotations

import duckdb

from lakehouse.serving.pii_scan import Finding, scan, view_digests


def test_clear_emails_and_names_are_found_per_view_and_column_and_masked_ones_pass():
    # an `@` without a domain is no email; a longer word than any name is none
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA curated")
        con.execute("CREATE SCHEMA refined")
        con.execute(
            "CREATE VIEW curated.leaky AS SELECT * FROM (VALUES (1, 'Ann.Lee@Example.org', 'Lee'), "
            "(2, 'web', 'Leeds'), "
            "(3, 'at@home', 'Annabel'), (4, NULL, 'Lee')) t(id, contact, city)"
        )
        con.execute("CREATE VIEW refined.masked AS SELECT '***' AS first_name, 'Ann' AS nickname WHERE false")

        findings = scan(con, ["Ann", "Lee"])

    assert findings == [
        Finding("curated.leaky", "contact", emails=1, names=0),
        Finding("curated.leaky", "city", emails=0, names=2),
    ]


def test_a_scan_can_be_limited_to_views_whose_definition_or_names_changed():
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE VIEW raw.a AS SELECT 'Ann' AS name")
        con.execute("CREATE VIEW raw.b AS SELECT 'Lee' AS name")
        before = view_digests(con, ["Ann", "Lee"])
        con.execute("CREATE OR REPLACE VIEW raw.b AS SELECT 'Lee' AS name, 'web' AS channel")
        after = view_digests(con, ["Ann", "Lee"])

        assert [v for v in after if after[v] != before[v]] == ["raw.b"]
        assert view_digests(con, ["Ann"]).keys() == after.keys()
        assert all(view_digests(con, ["Ann"])[v] != after[v] for v in after)  # other names: all
        assert scan(con, ["Ann", "Lee"], ["raw.b"]) == [Finding("raw.b", "name", emails=0, names=1)]
