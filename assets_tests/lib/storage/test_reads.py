"""The read seam: the version a run reads of a table, and reads recorded in the commit they fed."""

import time

import dagster as dg
import polars as pl
import pytest

from lakehouse.lib.storage import delta_tables, reads
from lakehouse.lib.storage.history import commit_at
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec, merge, overwrite

OVERWRITE = WriteSpec(WriteMode.OVERWRITE)


def write(uri: str, value: int, run_id: str) -> None:
    delta_tables.write(uri, pl.DataFrame({"v": [value]}), OVERWRITE, {"dagster.run_id": run_id})


def test_a_run_reads_its_own_newest_write_else_the_newest_version_from_before_it_started(tmp_path):
    uri = str(tmp_path / "refined" / "t")
    assert delta_tables.version_for_run(uri, "run", 0) is None  # no table

    write(uri, 0, "earlier")
    time.sleep(0.01)
    started = int(time.time() * 1000)
    time.sleep(0.01)
    write(uri, 1, "another run")
    assert delta_tables.version_for_run(uri, "run", started) == 0  # not another run's later write
    write(uri, 2, "run")
    write(uri, 3, "another run")
    assert delta_tables.version_for_run(uri, "run", started) == 2  # its own write
    assert delta_tables.version_for_run(uri, "a run before the table", 0) is None


def test_a_pinned_table_reads_one_version_whatever_is_committed_after(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    uri = store.uri(["raw", "t"])
    append = WriteSpec(WriteMode.APPEND)
    delta_tables.write(uri, pl.DataFrame({"_batch_id": ["a"], "n": [1]}), append, {})
    pinned = store.pin(["raw", "t"])
    delta_tables.write(uri, pl.DataFrame({"_batch_id": ["b"], "n": [5]}), append, {})

    assert (pinned.name, pinned.version) == ("raw/t", 0)
    assert pinned.scan().collect().get_column("n").to_list() == [1]
    assert pinned.newest("n") == 1
    assert pinned.committed_batches(["a", "b"]) == {"a"}
    assert pinned.add_actions().get_column("num_records").sum() == 1
    assert store.committed_batches(["raw", "t"], ["a", "b"]) == {"a", "b"}  # the store: the newest


def test_a_missing_table_pins_to_nothing(tmp_path):
    missing = DeltaStore(root=str(tmp_path)).pin(["refined", "none"])
    assert (missing.exists, missing.scan_or_none(), missing.newest("v")) == (False, None, None)
    assert missing.committed_batches(["a"]) == set()
    with pytest.raises(FileNotFoundError, match="table refined/none does not exist yet"):
        missing.scan()


SOURCE = dg.AssetKey(["raw", "numbers"])
TOTALS = dg.AssetKey(["curated", "totals"])


@dg.asset(key=SOURCE, metadata=overwrite())
def numbers() -> pl.DataFrame:
    return pl.DataFrame({"n": [1, 2, 3]})


@dg.asset(key=TOTALS, ins={"rows": dg.AssetIn(SOURCE)}, metadata=merge(["k"]))
def totals(context: dg.AssetExecutionContext, store: DeltaStore, rows: pl.LazyFrame) -> pl.LazyFrame:
    """Incremental: adds the source's sum to its own previous total."""
    previous = store.reading(context).scan_or_none(TOTALS)
    before = 0 if previous is None else previous.select("total").collect().item()
    return rows.select(pl.lit("all").alias("k"), (pl.col("n").sum() + before).alias("total"))


@pytest.mark.parametrize("records_page", [reads.RECORDS_PAGE, 1])
def test_a_commit_records_its_dagster_inputs_and_its_own_previous_version(
    tmp_path, instance, monkeypatch, records_page: int
):
    """The same when the step's records are found a record at a time, newest first."""
    monkeypatch.setattr(reads, "RECORDS_PAGE", records_page)
    store = DeltaStore(root=str(tmp_path))
    resources = {"store": store, "io_manager": DeltaIOManager(store=store)}
    for _ in range(2):
        assert dg.materialize([numbers, totals], instance=instance, resources=resources).success

    assert store.scan(TOTALS).collect().get_column("total").to_list() == [12]
    first, second = (commit_at(tmp_path, "curated/totals", v) for v in (0, 1))
    assert first.input_versions == {"raw/numbers": 0}  # no previous version yet
    assert second.input_versions == {"raw/numbers": 1, "curated/totals": 0}
    observed = instance.fetch_observations(TOTALS, limit=1).records[0].asset_observation
    assert observed.metadata["delta/read_version"].value == 0


def test_a_run_reads_its_inputs_as_of_its_start_whatever_another_writer_commits_meanwhile(tmp_path, instance):
    store = DeltaStore(root=str(tmp_path))
    source, meddled = dg.AssetKey(["raw", "source"]), dg.AssetKey(["raw", "meddled"])
    delta_tables.write(store.uri(source), pl.DataFrame({"n": [1]}), OVERWRITE, {})

    @dg.asset(key=meddled, metadata=overwrite())
    def meddler() -> pl.DataFrame:
        """Runs first; meanwhile another writer (no run of ours) replaces the source."""
        delta_tables.write(store.uri(source), pl.DataFrame({"n": [100]}), OVERWRITE, {})
        return pl.DataFrame({"x": [1]})

    ins = {"rows": dg.AssetIn(source), "_": dg.AssetIn(meddled)}

    @dg.asset(key=["curated", "copy"], ins=ins, metadata=overwrite())
    def copy(rows: pl.LazyFrame, _: pl.LazyFrame) -> pl.LazyFrame:
        return rows

    io_manager = DeltaIOManager(store=store)
    assert dg.materialize(
        [dg.AssetSpec(source), meddler, copy], instance=instance, resources={"io_manager": io_manager}
    ).success

    assert store.version(source) == 1
    assert store.scan(["curated", "copy"]).collect().get_column("n").to_list() == [1]
    assert commit_at(tmp_path, "curated/copy").input_versions == {"raw/meddled": 0, "raw/source": 0}


def test_a_step_reading_a_table_again_at_the_same_version_observes_it_once(tmp_path, instance):
    store = DeltaStore(root=str(tmp_path))
    delta_tables.write(store.uri(SOURCE), pl.DataFrame({"n": [1, 2, 3]}), OVERWRITE, {})

    @dg.asset(key=["curated", "largest"], metadata=overwrite())
    def largest(context: dg.AssetExecutionContext) -> pl.DataFrame:
        step = store.reading(context)
        rows = step.scan(SOURCE).collect()
        return rows.filter(pl.col("n") == step.newest(SOURCE, "n"))

    result = dg.materialize(
        [largest], instance=instance, resources={"io_manager": DeltaIOManager(store=store)}
    )

    observations = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION)
    assert [r.event_log_entry.asset_observation.asset_key for r in observations.records] == [SOURCE]
    assert commit_at(tmp_path, "curated/largest").input_versions == {"raw/numbers": 0}
