"""The refine factory: newest row per key, the processed watermark, and a refine run end to end."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import dagster as dg
import polars as pl
import pytest

from lakehouse.components.declared import refined_tables
from lakehouse.defs.raw.ingestion import with_ingestion_columns
from lakehouse.defs.refined.customers import CUSTOMERS
from lakehouse.defs.refined.refine import build_refined_asset, newest_per_key, processed_watermark
from lakehouse.lib.privacy import Pseudonymiser
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

APPEND = WriteSpec(WriteMode.APPEND)
T1 = datetime(2025, 1, 3, 1, 0, tzinfo=UTC)
T2 = datetime(2025, 1, 4, 1, 0, tzinfo=UTC)
T3 = datetime(2025, 1, 5, 1, 0, tzinfo=UTC)


# --- newest_per_key ---------------------------------------------------------------------------


def test_newest_per_key_keeps_the_newest_by_sequence_then_by_ingestion_order():
    rows = pl.DataFrame(
        {
            "id": [1, 1, 2, 2, 3, 3, 4],
            "updated_at": [20, 10, 10, 10, 10, 10, 5],
            "_ingested_at": [T1, T2, T1, T2, T1, T1, T1],
            "_row_number": [1, 1, 2, 2, 5, 4, 6],
            "version": [
                "1-newest",
                "1-late-but-older",
                "2-first",
                "2-reingested",
                "3-row5",
                "3-row4",
                "4-only",
            ],
        }
    )

    newest = newest_per_key(rows, ("id",), "updated_at")

    assert newest.sort("id").select("id", "version").rows() == [
        (1, "1-newest"),  # a later ingestion of an older version does not win
        (2, "2-reingested"),  # same sequence: the later ingestion wins
        (3, "3-row5"),  # same sequence and ingestion: the later row wins
        (4, "4-only"),
    ]


def test_newest_per_key_keeps_the_last_to_arrive_of_versions_alike_in_sequence_and_ingestion():
    """Two batch files of one run, the same line number: the later file's row (the rows' order)."""
    rows = pl.DataFrame(
        {
            "id": [1, 2, 1, 1],
            "updated_at": [10] * 4,
            "_ingested_at": [T1] * 4,
            "_row_number": [7] * 4,
            "_batch_id": ["b1", "b1", "b2", "b3"],
        }
    )

    newest = newest_per_key(rows, ("id",), "updated_at")

    assert newest.sort("id").select("id", "_batch_id").rows() == [(1, "b3"), (2, "b1")]


def test_newest_per_key_on_a_composite_key():
    rows = pl.DataFrame(
        {
            "order_id": [1, 1, 1, 2],
            "line_no": [1, 1, 2, 1],
            "updated_at": [1, 2, 1, 1],
            "_ingested_at": [T1] * 4,
            "_row_number": [1, 2, 3, 4],
        }
    )

    newest = newest_per_key(rows, ("order_id", "line_no"), "updated_at")

    assert newest.sort("order_id", "line_no").select("order_id", "line_no", "_row_number").rows() == [
        (1, 1, 2),
        (1, 2, 3),
        (2, 1, 4),
    ]


# --- processed_watermark ----------------------------------------------------------------------


def lineage_rows(batch: str, *ingested: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": list(range(1, len(ingested) + 1)),
            "_ingested_at": list(ingested),
            "_batch_id": [batch] * len(ingested),
            "_row_number": list(range(1, len(ingested) + 1)),
        },
        schema={
            "customer_id": pl.Int64,
            "_ingested_at": pl.Datetime("us", "UTC"),
            "_batch_id": pl.String,
            "_row_number": pl.Int64,
        },
    )


def test_watermark_is_none_when_nothing_was_processed(tmp_path):
    assert processed_watermark(DeltaStore(root=str(tmp_path)), CUSTOMERS) is None


def test_watermark_is_the_newest_ingestion_refined(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    delta_tables.write(store.uri(CUSTOMERS.refined_key), lineage_rows("b1", T1, T2), APPEND, {})

    assert processed_watermark(store, CUSTOMERS) == T2


def test_watermark_is_the_newest_refined_row_even_when_quarantine_is_newer(tmp_path):
    # Quarantine is written before refined: a batch only counts as processed once it is merged.
    store = DeltaStore(root=str(tmp_path))
    delta_tables.write(store.uri(CUSTOMERS.refined_key), lineage_rows("b1", T1, T2), APPEND, {})
    delta_tables.write(store.uri(CUSTOMERS.quarantine_key), lineage_rows("b2", T3), APPEND, {})

    assert processed_watermark(store, CUSTOMERS) == T2


def test_watermark_ignores_an_empty_quarantine(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    delta_tables.write(store.uri(CUSTOMERS.refined_key), lineage_rows("b1", T1), APPEND, {})
    delta_tables.write(store.uri(CUSTOMERS.quarantine_key), lineage_rows("b0"), APPEND, {})

    assert processed_watermark(store, CUSTOMERS) == T1


# --- the refine multi-asset, materialised through Dagster --------------------------------------


def raw_customers(batch: str, at: datetime, rows: list[tuple]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={"customer_id": pl.Int64, "email": pl.String, "updated_at": pl.String},
        orient="row",
    ).with_columns(
        first_name=pl.lit("Ann"),
        last_name=pl.lit("Lee"),
        country=pl.lit("DE"),
        signup_at=pl.lit("2025-01-01T10:00:00+01:00"),
        deleted_at=pl.lit(None, pl.String),
    )
    return with_ingestion_columns(
        frame, source="shop.customers", batch_id=batch, run_id="raw", ingested_at=at
    )


@pytest.fixture
def store(tmp_path) -> DeltaStore:
    return DeltaStore(root=str(tmp_path / "tables"))


def land_raw(store: DeltaStore, batch: pl.DataFrame) -> None:
    delta_tables.write(store.uri(CUSTOMERS.raw_key), batch, APPEND, {})


def refine_customers(instance: dg.DagsterInstance, store: DeltaStore) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [dg.AssetSpec(CUSTOMERS.raw_key), build_refined_asset(CUSTOMERS)],
        selection=[CUSTOMERS.refined_key, CUSTOMERS.quarantine_key],
        instance=instance,
        resources={
            "store": store,
            "pseudonymiser": Pseudonymiser(key="test-key"),
            "io_manager": DeltaIOManager(store=store),
        },
        raise_on_error=False,
    )


def refined_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == CUSTOMERS.refined_key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_refine_splits_dedupes_and_then_processes_only_new_raw_batches(instance, store):
    land_raw(
        store,
        raw_customers(
            "b1",
            T1,
            [
                (1, "ann@example.com", "2025-01-02T06:00:00.000000Z"),
                (2, "not-an-email", "2025-01-02T06:00:00.000000Z"),
                (1, "ann.new@example.com", "2025-01-02T07:00:00.000000Z"),  # newer version of 1
                (3, "cy@example.com", "2025-01-02T06:00:00.000000Z"),
            ],
        ),
    )

    first = refine_customers(instance, store)

    assert first.success
    metadata = refined_metadata(first)
    processed = ("raw_rows_processed", "rows_quarantined_now", "duplicates_removed")
    assert [metadata[k] for k in processed] == [4, 1, 1]
    refined = store.scan(CUSTOMERS.refined_key).sort("customer_id").collect()
    assert refined.columns == [*CUSTOMERS.output_columns, "_refined_at"]
    assert refined.select("customer_id", "_row_number").rows() == [(1, 3), (3, 4)]
    quarantine = store.scan(CUSTOMERS.quarantine_key).collect()
    assert quarantine.select("customer_id", "email", "_batch_id", "_row_number", "_rules").rows() == [
        (2, "not-an-email", "b1", 2, ["email:valid_email"])
    ]
    assert quarantine.get_column("_quarantine_run_id").to_list() == [first.run_id]

    land_raw(store, raw_customers("b2", T2, [(4, "di@example.com", "2025-01-03T06:00:00.000000Z")]))
    second = refine_customers(instance, store)

    assert second.success
    assert refined_metadata(second)["raw_rows_processed"] == 1
    ids = store.scan(CUSTOMERS.refined_key).select("customer_id").collect().to_series().sort().to_list()
    assert ids == [1, 3, 4]
    assert store.scan(CUSTOMERS.quarantine_key).select(pl.len()).collect().item() == 1


def test_a_failed_refined_write_does_not_lose_the_batch_on_the_next_run(instance, store):
    """The quarantine output is committed before the refined one. If the refined write then fails,
    the next run must still refine the batch's valid rows: the watermark may not move past rows
    that never reached refined."""
    land_raw(
        store,
        raw_customers(
            "b1",
            T2,
            [
                (1, "ann@example.com", "2025-01-02T06:00:00.000000Z"),
                (2, "not-an-email", "2025-01-02T06:00:00.000000Z"),
            ],
        ),
    )
    # A refined table the merge cannot write into (an incompatible schema): a real write failure.
    refined_uri = store.uri(CUSTOMERS.refined_key)
    broken = pl.DataFrame({"customer_id": ["x"], "_ingested_at": [T1], "_batch_id": ["old"]})
    delta_tables.write(refined_uri, broken, WriteSpec(WriteMode.OVERWRITE), {})

    failed = refine_customers(instance, store)
    assert not failed.success
    assert store.scan(CUSTOMERS.quarantine_key).select("customer_id").collect().to_series().to_list() == [2]

    shutil.rmtree(refined_uri)  # the operator repairs the table and re-runs
    rerun = refine_customers(instance, store)

    assert rerun.success
    assert store.scan(CUSTOMERS.refined_key).select("customer_id").collect().to_series().to_list() == [1]


def test_every_refined_column_the_ui_shows_is_described_by_its_contract():
    for asset in [build_refined_asset(t) for t in refined_tables()]:
        key = next(k for k in asset.keys if k.path[0] == "refined")
        schema = asset.metadata_by_key[key]["dagster/column_schema"]

        assert all(column.description for column in schema.columns), key


def test_refining_in_windows_of_two_rows_equals_one_window(instance, tmp_path):
    """A key's versions in different windows (customer 1's first and newest rows), a rejected row:
    windows of two raw rows refine, quarantine and count exactly as one window, in one commit each."""
    batch = raw_customers(
        "b1",
        T1,
        [
            (1, "ann@example.com", "2025-01-02T06:00:00.000000Z"),
            (2, "not-an-email", "2025-01-02T06:00:00.000000Z"),
            (3, "cy@example.com", "2025-01-02T06:00:00.000000Z"),
            (1, "ann.new@example.com", "2025-01-02T07:00:00.000000Z"),  # newer version of 1
            (5, "ed@example.com", "2025-01-02T06:00:00.000000Z"),
        ],
    )
    outcomes = []
    for batch_rows in (2, 1000):
        store = DeltaStore(root=str(tmp_path / str(batch_rows)), batch_rows=batch_rows)
        land_raw(store, batch)
        result = refine_customers(instance, store)
        assert result.success
        counts = ("raw_rows_processed", "rows_quarantined_now", "duplicates_removed")
        refined = store.scan(CUSTOMERS.refined_key).drop("_refined_at").sort("customer_id").collect()
        quarantine = store.scan(CUSTOMERS.quarantine_key).drop("_quarantined_at", "_quarantine_run_id")
        versions = [
            delta_tables.version(store.uri(k)) for k in (CUSTOMERS.refined_key, CUSTOMERS.quarantine_key)
        ]
        metadata = refined_metadata(result)
        outcomes.append((refined, quarantine.collect(), [metadata[k] for k in counts], versions))

    (refined, quarantine, counts, versions), whole = outcomes
    assert refined.equals(whole[0]) and quarantine.equals(whole[1])
    assert refined.select("customer_id", "_row_number").rows() == [(1, 4), (3, 3), (5, 5)]
    assert counts == whole[2] == [5, 1, 1]
    assert versions == [0, 0]
