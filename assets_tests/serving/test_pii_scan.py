"""The PII scanner finds clear emails and names in any served view, and passes masked ones."""

from __future__ import annotations

import duckdb

from lakehouse.serving.pii_scan import Finding, scan


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
