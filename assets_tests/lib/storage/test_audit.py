"""The audit log: one row per operation, and the tables an operation was recorded on."""

from lakehouse.lib.storage import audit


def test_the_tables_an_operation_was_recorded_on_none_without_a_log(tmp_path):
    assert audit.tables_with(tmp_path, "replay") == set()

    audit.record(tmp_path, operation="replay", table="refined/orders", version=3)
    audit.record(tmp_path, operation="write", table="refined/customers", version=1)
    audit.record(tmp_path, operation="replay", table="refined/orders", version=4)

    assert audit.tables_with(tmp_path, "replay") == {"refined/orders"}
    assert audit.tables_with(tmp_path, "restore") == set()
