"""Compaction keeps every row and the write spec, retention then vacuums history; all audited."""

import json
from datetime import UTC, datetime, timedelta

import polars as pl
from deltalake import DeltaTable

from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.maintenance import Compacted, compact, maintain
from lakehouse.lib.storage.retention import RetentionPolicies
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

SPEC = WriteSpec(WriteMode.APPEND, direct_pii=("email",))


def test_maintenance_compacts_small_files_vacuums_old_ones_and_keeps_every_row(tmp_path):
    uri = str(tmp_path / "raw" / "payments")
    for day in range(5):  # five appends: five small files
        batch = pl.DataFrame({"id": [day], "email": ["x@example.org"], "_batch_id": [f"file-{day}"]})
        delta_tables.write(uri, batch, SPEC, {})
    assert len(DeltaTable(uri).file_uris()) == 5

    # A week and a day on: the five compacted files are past the week of history.
    later = datetime.now(UTC) + timedelta(days=8)
    results = maintain(tmp_path, RetentionPolicies({}, backup_days=35), now=later)

    assert [r.table for r in results] == ["audit/log", "raw/payments"]  # the compaction's audit made the log
    result = results[1]

    assert (result.table, result.files_compacted, result.files_added) == ("raw/payments", 5, 1)
    assert result.retention.files == 5
    assert len(DeltaTable(uri).file_uris()) == 1
    assert sorted(delta_tables.scan(uri).collect().get_column("id").to_list()) == [0, 1, 2, 3, 4]
    # The batches stay committed: re-delivering one still appends nothing.
    assert delta_tables.committed_batches(uri, ["file-3"]) == {"file-3"}
    # The compaction commit carries the write spec: the catalog keeps masking the email.
    compaction = next(c for c in DeltaTable(uri).history() if c["operation"] == "OPTIMIZE")
    assert json.loads(compaction[delta_tables.WRITE_SPEC_COMMIT_KEY])["direct_pii"] == ["email"]
    assert delta_tables.spec_of(uri) == SPEC
    log = pl.read_delta(str(tmp_path / "audit" / "log")).sort("at")
    assert log.select("operation", "table_name").rows() == [
        ("maintenance", "raw/payments"),
        ("retention", "raw/payments"),
    ]


def test_compaction_reads_a_tables_log_once(tmp_path, monkeypatch):
    """Its write spec, the compaction and the version it made, from one opened table."""
    uri = str(tmp_path / "raw" / "payments")
    for day in range(3):
        delta_tables.write(uri, pl.DataFrame({"id": [day], "_batch_id": [f"file-{day}"]}), SPEC, {})
    opened = []
    open_table = DeltaTable.__init__

    def counted(table: DeltaTable, *args: object, **kwargs: object) -> None:
        opened.append(args[0])
        open_table(table, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "__init__", counted)
    result = compact(uri)
    monkeypatch.undo()

    assert opened == [uri]
    assert result == Compacted(files_removed=3, files_added=1, version=3)
    assert DeltaTable(uri).history(1)[0]["operation"] == "OPTIMIZE"
