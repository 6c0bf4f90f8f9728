"""Snapshots kept for a step that reads and writes nothing: each table's log read once there, one
consistent newest version whatever is committed meanwhile, and nothing kept beyond."""

import polars as pl
from deltalake import DeltaTable

from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.snapshots import Snapshots, one_read
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

APPEND = WriteSpec(WriteMode.APPEND)


def append(uri: str, batch: str, n: int) -> None:
    delta_tables.write(uri, pl.DataFrame({"_batch_id": [batch], "n": [n]}), APPEND, {})


def test_within_a_step_a_table_is_read_as_first_opened_there_and_anew_after_it(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    uri = store.uri(["raw", "t"])
    append(uri, "a", 1)
    snapshots = Snapshots()

    with snapshots.kept():
        first = delta_tables.state(uri)
        append(uri, "b", 5)  # another run commits meanwhile
        assert delta_tables.opened(uri) is delta_tables.opened(uri, 0)  # one open of the one version
        assert (first.version, delta_tables.version(uri), store.version(["raw", "t"])) == (0, 0, 0)
        assert store.scan(["raw", "t"]).collect().get_column("n").to_list() == [1]
        assert (store.newest(["raw", "t"], "n"), delta_tables.row_count(uri)) == (1, 1)
    with snapshots.kept():  # the next judge of the same step: the same snapshot
        assert delta_tables.version(uri) == 0
        assert delta_tables.state(uri) == first

    assert delta_tables.version(uri) == 1  # outside: the newest
    assert store.scan(["raw", "t"]).collect().get_column("n").sort().to_list() == [1, 5]


def test_one_read_opens_a_table_once_for_a_pin_and_its_reads_or_joins_the_steps_snapshots(
    tmp_path, monkeypatch
):
    store = DeltaStore(root=str(tmp_path))
    uri = store.uri(["raw", "t"])
    append(uri, "a", 1)
    opened: list[int | None] = []
    real = DeltaTable.__init__

    def counted(self: DeltaTable, table_uri: str, version: int | None = None, **kwargs: object) -> None:
        opened.append(version)
        real(self, table_uri, version, **kwargs)

    monkeypatch.setattr(DeltaTable, "__init__", counted)
    assert store.newest(["raw", "t"], "n") == 1  # the pin, the log's statistics and the scan
    assert store.scan(["raw", "t"]).collect().get_column("n").to_list() == [1]
    assert opened == [None, None]  # one open per read, not one per version, statistics and scan

    snapshots = Snapshots()
    with snapshots.kept(), one_read():
        assert store.newest(["raw", "t"], "n") == 1
    with snapshots.kept(), one_read():
        assert store.committed_batches(["raw", "t"], ["a", "b"]) == {"a"}
    assert opened == [None, None, None]  # the step's snapshot, for both reads
