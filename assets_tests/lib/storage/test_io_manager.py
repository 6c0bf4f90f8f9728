"""The Delta IO manager through Dagster: small assets materialised with it, each write mode held to
what it promises (append once per batch, a partition's slice replaced alone, merge, scd2)."""

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore

DAYS = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-04")


class Source:
    """What the asset returns on its next materialisation: tests change it between runs."""

    def __init__(self, rows: dict[str, list[Any]]) -> None:
        self.rows = rows

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows)


def table_asset(name: str, metadata: dict[str, Any], source: Source) -> dg.AssetsDefinition:
    @dg.asset(name=name, metadata=metadata)
    def _asset() -> pl.DataFrame:
        return source.frame()

    return _asset


def materialise(
    asset: dg.AssetsDefinition, store: DeltaStore, instance: dg.DagsterInstance, partition: str | None = None
) -> dict[str, Any]:
    """One run through the IO manager; the materialisation's metadata, as plain values."""
    result = dg.materialize(
        [asset],
        instance=instance,
        resources={"io_manager": DeltaIOManager(store=store)},
        partition_key=partition,
    )
    assert result.success
    [materialisation] = result.asset_materializations_for_node(asset.key.path[-1])
    return {key: value.value for key, value in materialisation.metadata.items()}


def read(store: DeltaStore, name: str, *order: str) -> pl.DataFrame:
    return store.scan([name]).collect().sort(*order)


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(root=str(tmp_path / "tables"))


def test_an_append_materialised_twice_keeps_one_copy_of_its_batch(store, instance):
    source = Source({"id": [1, 2, 3], "_batch_id": ["b1"] * 3})
    events = table_asset("events", write_spec.append(), source)

    first = materialise(events, store, instance)
    again = materialise(events, store, instance)

    assert (first["rows_written"], again["rows_written"]) == (3, 0)
    assert again["batches_already_committed"] == 1
    assert (first["delta/version"], again["delta/version"]) == (0, 0)  # the retry committed nothing
    assert read(store, "events", "id").get_column("id").to_list() == [1, 2, 3]

    source.rows = {"id": [1, 2, 3, 4], "_batch_id": ["b1"] * 3 + ["b2"]}  # an old batch and a new one
    later = materialise(events, store, instance)

    assert (later["rows_written"], later["batches_already_committed"], later["delta/version"]) == (1, 1, 1)
    assert read(store, "events", "id").get_column("id").to_list() == [1, 2, 3, 4]


def test_one_partition_materialised_again_changes_only_its_slice(store, instance):
    values = {"2025-01-01": [1, 2], "2025-01-02": [3], "2025-01-03": [4, 5]}

    @dg.asset(partitions_def=DAYS, metadata=write_spec.overwrite_partition("day"))
    def daily(context: dg.AssetExecutionContext) -> pl.DataFrame:
        day = context.partition_key
        return pl.DataFrame({"day": date.fromisoformat(day), "n": values[day]})

    for day in values:
        materialise(daily, store, instance, partition=day)
    before = read(store, "daily", "day", "n")
    files_before = set(DeltaTable(store.uri(["daily"])).file_uris())

    values["2025-01-02"] = [30, 31, 32]
    metadata = materialise(daily, store, instance, partition="2025-01-02")

    after = read(store, "daily", "day", "n")
    changed = pl.col("day") == date(2025, 1, 2)
    assert after.filter(~changed).equals(before.filter(~changed))
    assert after.filter(changed).get_column("n").to_list() == [30, 31, 32]
    assert (metadata["rows_inserted"], metadata["rows_deleted"], metadata["dagster/row_count"]) == (3, 1, 7)
    # the other days' files are the same files: not rewritten, only the day's own file replaced
    files_after = set(DeltaTable(store.uri(["daily"])).file_uris())
    assert len(files_before - files_after) == 1 and len(files_after - files_before) == 1
    [commit] = DeltaTable(store.uri(["daily"])).history(1)
    assert commit["dagster.partition_key"] == "2025-01-02"


def test_an_unpartitioned_run_records_the_days_it_wrote_even_past_the_last_partition(store, instance):
    """The partitions end where the data ended when the definitions loaded: a day written since
    (2025-01-05, after DAYS' last, 2025-01-03) is recorded for when they are reloaded; a day before
    the first partition is not a partition."""

    @dg.asset(partitions_def=DAYS, metadata=write_spec.overwrite_partition("day"))
    def days_written() -> pl.DataFrame:
        days = [date(2024, 12, 31), date(2025, 1, 2), date(2025, 1, 5)]
        return pl.DataFrame({"day": days, "n": [1, 2, 3]})

    assert dg.materialize(
        [days_written], instance=instance, resources={"io_manager": DeltaIOManager(store=store)}
    ).success
    reloaded = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-01-06")

    recorded = instance.get_materialized_partitions(days_written.key)
    assert recorded == {"2025-01-02", "2025-01-05"}
    assert recorded <= set(reloaded.get_partition_keys())


def test_a_merge_upserts_on_its_keys_and_never_moves_a_row_back_in_time(store, instance):
    source = Source({"id": [1, 2, 3], "v": ["a", "b", "c"], "updated_at": [1, 1, 1]})
    items = table_asset("items", write_spec.merge(["id"], sequence_column="updated_at"), source)
    materialise(items, store, instance)

    source.rows = {"id": [2, 3, 4], "v": ["B", "stale", "d"], "updated_at": [2, 0, 1]}
    merged = materialise(items, store, instance)
    again = materialise(items, store, instance)

    assert (merged["rows_inserted"], merged["rows_updated"], merged["rows_deleted"]) == (1, 1, 0)
    assert (again["rows_inserted"], again["rows_updated"]) == (0, 0)
    assert read(store, "items", "id").select("id", "v").rows() == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]


def at(day: int) -> datetime:
    return datetime(2025, 1, day, tzinfo=UTC)


def test_scd2_keeps_every_version_and_a_late_change_lands_where_its_time_puts_it(store, instance):
    def changes(rows: list[tuple[int, datetime, str]]) -> dict[str, list[Any]]:
        ids, times, cities = zip(*rows, strict=True)
        return {"customer_id": list(ids), "updated_at": list(times), "city": list(cities)}

    source = Source(changes([(1, at(1), "Berlin"), (2, at(1), "Paris"), (1, at(5), "Rome")]))
    spec = write_spec.scd2(["customer_id"], "updated_at", ["city"], surrogate_key="customer_key")
    customers = table_asset("customers", spec, source)
    materialise(customers, store, instance)

    source.rows = changes([(1, at(3), "Oslo")])  # arrives late: between Berlin and Rome
    materialise(customers, store, instance)
    materialise(customers, store, instance)  # the same batch again changes nothing

    history = read(store, "customers", "customer_id", "valid_from")
    assert history.select("customer_id", "city", "valid_from", "valid_to", "is_current").rows() == [
        (1, "Berlin", at(1), at(3), False),
        (1, "Oslo", at(3), at(5), False),
        (1, "Rome", at(5), None, True),
        (2, "Paris", at(1), None, True),
    ]
    assert history.get_column("customer_key").n_unique() == 4
