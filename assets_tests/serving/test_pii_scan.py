"""The PII scanner finds clear emails and names in any served view, and passes masked ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
from deltalake import DeltaTable

from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec
from lakehouse.serving.catalog import publish_catalog
from lakehouse.serving.pii_scan import (
    Finding,
    published_versions,
    scan,
    scan_files,
    unvouched_files,
    view_digests,
)

PLAIN, MASKED = WriteSpec(WriteMode.APPEND), WriteSpec(WriteMode.APPEND, direct_pii=("name",))


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


def _published(tables_dir: Path, catalog_path: Path, names: list[str]) -> dict[str, tuple[str, int]]:
    """Publish the catalog; each view's digest and table version, as the PII check records them."""
    publish_catalog(tables_dir, catalog_path)
    with duckdb.connect(str(catalog_path), read_only=True) as con:
        digests, versions = view_digests(con, names), published_versions(con)
    return {view: (digest, versions[view]) for view, digest in digests.items()}


def _append(uri: str, column: str, value: str, batch: str, spec: WriteSpec = PLAIN) -> None:
    delta_tables.write(uri, pl.DataFrame({column: [value], "_batch_id": [batch]}), spec, {})


def test_a_view_that_only_gained_files_is_judged_on_them_and_otherwise_whole(tmp_path: Path):
    """The files added since a passing scan are scanned alone when the rest of the view is what it
    judged (the same files at the version judged, the same columns, masks and names); not after a
    backup restored in place made the version judged again with other files, nor for other names."""
    tables_dir, catalog_path, names = tmp_path / "tables", tmp_path / "lakehouse.duckdb", ["Ann", "Lee"]
    root, people, notes = (
        str(tables_dir),
        str(tables_dir / "raw" / "people"),
        str(tables_dir / "curated" / "notes"),
    )
    _append(people, "name", "Ann", "b1", MASKED)
    _append(notes, "note", "fine", "b1")
    shutil.copytree(notes, tmp_path / "backup")
    then = _published(tables_dir, catalog_path, names)  # what a passing scan judged
    _append(people, "name", "Lee", "b2", MASKED)
    _append(notes, "note", "mail ann@example.org", "b2")
    now = _published(tables_dir, catalog_path, names)

    with duckdb.connect(str(catalog_path), read_only=True) as con:
        added = {v: unvouched_files(con, root, v, then[v], now[v], names) for v in now}
        findings = scan_files(con, root, names, added)
        other_names = unvouched_files(con, root, "raw.people", then["raw.people"], now["raw.people"], ["Ann"])

    tables = {"raw.people": people, "curated.notes": notes}
    new = {
        v: set(DeltaTable(u).file_uris()) - set(DeltaTable(u, version=0).file_uris())
        for v, u in tables.items()
    }
    assert {v: set(f) for v, f in added.items()} == new and all(len(f) == 1 for f in new.values())
    assert findings == [Finding("curated.notes", "note", emails=1, names=0)]  # the masked name passes
    assert other_names is None

    shutil.rmtree(notes)
    shutil.copytree(tmp_path / "backup", notes)
    _append(notes, "note", "Lee", "b3")  # version 1 again, another file
    restored = _published(tables_dir, catalog_path, names)
    with duckdb.connect(str(catalog_path), read_only=True) as con:
        judged, published = now["curated.notes"], restored["curated.notes"]
        assert unvouched_files(con, root, "curated.notes", judged, published, names) is None

    replaced = WriteSpec(WriteMode.OVERWRITE, direct_pii=("name",))
    delta_tables.write(people, pl.DataFrame({"name": ["Kim"], "_batch_id": ["b4"]}), replaced, {})
    DeltaTable(people).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    vacuumed = _published(tables_dir, catalog_path, names)
    with duckdb.connect(str(catalog_path), read_only=True) as con:  # the files judged are gone: whole
        judged, published = now["raw.people"], vacuumed["raw.people"]
        assert unvouched_files(con, root, "raw.people", judged, published, names) is None
