"""Compaction keeps every row and the write spec, retention then vacuums history; all audited."""

import json
from datetime import UTC, datetime, timedelta

import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake

from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.maintenance import maintain
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


def test_maintenance_gives_a_merged_table_made_before_it_its_target_file_size(tmp_path):
    """Tables made before new tables carried their file size: their merges grew one file for ever."""
    uri = str(tmp_path / "refined" / "orders")
    spec = WriteSpec(WriteMode.MERGE, keys=("id",))
    legacy = CommitProperties(custom_metadata=delta_tables.custom_metadata({}, spec))
    write_deltalake(uri, pl.DataFrame({"id": [1, 2]}).to_arrow(), commit_properties=legacy)
    assert delta_tables.TARGET_FILE_SIZE_PROPERTY not in DeltaTable(uri).metadata().configuration

    maintain(tmp_path, RetentionPolicies({}, backup_days=35))

    configuration = DeltaTable(uri).metadata().configuration
    assert configuration[delta_tables.TARGET_FILE_SIZE_PROPERTY] == str(delta_tables.TARGET_FILE_SIZE)
    assert delta_tables.spec_of(uri) == spec  # the commit carries the write spec, as compaction's
    assert sorted(delta_tables.scan(uri).collect().get_column("id").to_list()) == [1, 2]
