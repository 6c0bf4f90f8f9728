"""Compaction and vacuum keep every row, shrink the file count, and are audited."""

import polars as pl
from deltalake import DeltaTable

from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.maintenance import maintain
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec


def test_maintenance_compacts_small_files_vacuums_old_ones_and_keeps_every_row(tmp_path):
    uri = str(tmp_path / "raw" / "payments")
    for day in range(5):  # five appends: five small files
        batch = pl.DataFrame({"id": [day], "_batch_id": [f"file-{day}"]})
        delta_tables.write(uri, batch, WriteSpec(WriteMode.APPEND), {})
    assert len(DeltaTable(uri).file_uris()) == 5

    (result,) = maintain(tmp_path, retention_hours=0)

    assert (result.table, result.files_compacted, result.files_added) == ("raw/payments", 5, 1)
    assert result.files_vacuumed == 5
    assert len(DeltaTable(uri).file_uris()) == 1
    assert sorted(delta_tables.scan(uri).collect().get_column("id").to_list()) == [0, 1, 2, 3, 4]
    # The batches stay committed: re-delivering one still appends nothing.
    assert delta_tables.committed_batches(uri, ["file-3"]) == {"file-3"}
    log = pl.read_delta(str(tmp_path / "audit" / "log"))
    assert log.select("operation", "table_name").rows() == [("maintenance", "raw/payments")]
