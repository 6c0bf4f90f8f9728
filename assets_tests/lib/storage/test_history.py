"""Table history, lineage through the recorded input versions, and restore."""

import polars as pl
import pytest

from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.history import commit_at, history, lineage, restore
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

OVERWRITE = WriteSpec(WriteMode.OVERWRITE)


def write(tables, name: str, values: list[int], run: str, inputs: dict[str, int] | None = None) -> None:
    provenance = {"dagster.run_id": run, "dagster.input_versions": inputs or {}}
    delta_tables.write(str(tables / name), pl.DataFrame({"v": values}), OVERWRITE, provenance)


@pytest.fixture
def tables(tmp_path):
    write(tmp_path, "raw/a", [1], "run-1")
    write(tmp_path, "raw/a", [1, 2], "run-2")
    write(tmp_path, "refined/b", [1], "run-1", {"raw/a": 0})
    write(tmp_path, "refined/b", [1, 2], "run-2", {"raw/a": 1})
    write(tmp_path, "curated/c", [3], "run-2", {"refined/b": 1, "raw/a": 1})
    return tmp_path


def test_history_lists_commits_newest_first_with_their_run(tables):
    commits = history(tables, "refined.b")
    assert [(c.version, c.run_id, c.input_versions) for c in commits] == [
        (1, "run-2", {"raw/a": 1}),
        (0, "run-1", {"raw/a": 0}),
    ]
    assert commits[0].write_mode == "overwrite"


def test_lineage_follows_input_versions_down_to_raw(tables):
    tree = lineage(tables, "curated/c")
    assert (tree.commit.table, tree.commit.version) == ("curated/c", 0)
    assert [(n.commit.table, n.commit.version) for n in tree.inputs] == [("raw/a", 1), ("refined/b", 1)]
    assert [(n.commit.table, n.commit.version) for n in tree.inputs[1].inputs] == [("raw/a", 1)]
    older = lineage(tables, "refined.b", version=0)
    assert [(n.commit.table, n.commit.version, n.commit.run_id) for n in older.inputs] == [
        ("raw/a", 0, "run-1")
    ]


def test_unknown_tables_and_versions_are_clear_errors(tables):
    with pytest.raises(FileNotFoundError, match=r"no table refined\.zzz"):
        history(tables, "refined.zzz")
    with pytest.raises(ValueError, match=r"refined\.b has no version 7 \(versions 0\.\.1\)"):
        commit_at(tables, "refined.b", 7)


def test_lineage_names_a_tables_own_previous_version_without_following_it(tmp_path):
    write(tmp_path, "raw/a", [1], "run-1")
    write(tmp_path, "raw/a", [1, 2], "run-2", {"raw/a": 0})
    write(tmp_path, "refined/b", [1], "run-2", {"raw/a": 1})
    write(tmp_path, "refined/b", [1, 2], "run-3", {"raw/a": 1, "refined/b": 0})

    tree = lineage(tmp_path, "refined/b")

    assert [(n.commit.table, n.commit.version, n.commit.run_id) for n in tree.inputs] == [
        ("raw/a", 1, "run-2"),
        ("refined/b", 0, "run-2"),
    ]
    assert [(n.commit.table, n.commit.version) for n in tree.inputs[0].inputs] == [("raw/a", 0)]
    assert tree.inputs[0].inputs[0].inputs == []
    assert tree.inputs[1].inputs == []


def test_restore_brings_back_an_old_version_as_a_new_commit_and_audits_it(tables):
    restored = restore(tables, "refined.b", 0)
    assert restored.version == 2
    assert (restored.write_mode, restored.input_versions) == ("overwrite", {"refined/b": 0})
    assert delta_tables.scan(str(tables / "refined/b")).collect().get_column("v").to_list() == [1]
    log = pl.read_delta(str(tables / "audit/log"))
    assert log.select("operation", "table_name", "version").rows() == [("restore", "refined/b", 2)]
    assert log.get_column("details").to_list() == ['{"to": 0}']


def test_a_restored_raw_table_ingests_again_the_batches_the_restore_removed(tmp_path):
    raw = str(tmp_path / "raw" / "payments")
    append = WriteSpec(WriteMode.APPEND)
    batch = {b: pl.DataFrame({"_batch_id": [b, b], "v": [n, n]}) for n, b in enumerate(["f1.csv", "f2.csv"])}
    delta_tables.write(raw, batch["f1.csv"], append, {})
    delta_tables.write(raw, batch["f2.csv"], append, {})

    restore(tmp_path, "raw.payments", 0)
    again = delta_tables.write(raw, pl.concat([batch["f1.csv"], batch["f2.csv"]]), append, {})

    assert (again.rows_written, again.skipped_batches) == (2, ["f1.csv"])
    assert pl.read_delta(raw).sort("v").get_column("_batch_id").to_list() == ["f1.csv"] * 2 + ["f2.csv"] * 2
    assert delta_tables.committed_batches(raw, ["f1.csv", "f2.csv"]) == {"f1.csv", "f2.csv"}
