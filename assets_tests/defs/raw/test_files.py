"""Raw file sets: each file lands once; bad lines rescued, unreadable files quarantined whole; new
columns merged and reported, changed types refused."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from lakehouse.components.declared import file_sets
from lakehouse.defs.raw.files import (
    FileSet,
    build_raw_file_asset,
    file_versions,
    ingest,
    pending_files,
    raw_batches,
)
from lakehouse.lib.file_versions import FileChangedError
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.io_manager import DeltaIOManager
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec
from lakehouse.operations.rejected_files import release_file
from lakehouse.sources.declared import FileSource
from lakehouse.sources.landing import LandingZone

PAYMENTS = file_sets()["payments"]
RAW_PAYMENTS = PAYMENTS.raw_key
HEADER = "payment_id,order_id,amount,currency,method,settled_at\n"
DAY_1 = "settlement_2025-01-01.csv"
DAY_2 = "settlement_2025-01-02.csv"


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    """This module's own instance: its few test files written as raw/payments and
    raw/supplier_inventory in the session's instance would be the materialisation before the demo
    lakehouse's, and its column-schema checks would warn of the difference."""
    with dg.DagsterInstance.ephemeral() as own:
        yield own


@pytest.fixture
def landing(tmp_path: Path) -> LandingZone:
    folder = tmp_path / "landing" / "payments"
    folder.mkdir(parents=True)
    (folder / DAY_1).write_text(HEADER + "pay_1,1,10.00,USD,card,2025-01-01T06:00:00Z\n")
    (folder / DAY_2).write_text(
        HEADER + "pay_2,2,20.00,EUR,card,2025-01-02T06:00:00Z\npay_3,3,12,50,EUR,card,2025-01-02T07:00:00Z\n"
    )
    (folder / "readme.txt").write_text("not a settlement file")
    return LandingZone(root=str(tmp_path / "landing"))


@pytest.fixture
def store(tmp_path: Path) -> DeltaStore:
    return DeltaStore(root=str(tmp_path / "tables"))


def materialise(
    instance: dg.DagsterInstance, landing: LandingZone, store: DeltaStore, files: FileSet = PAYMENTS
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_raw_file_asset(files)],
        instance=instance,
        resources={"landing": landing, "store": store, "io_manager": DeltaIOManager(store=store)},
    )


def materialised_metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey = RAW_PAYMENTS) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return event.materialization.metadata


def test_a_file_batch_id_names_the_landing_file():
    assert PAYMENTS.batch_id(Path("/any/where/settlement_2025-01-01.csv")) == (
        "landing/payments/settlement_2025-01-01.csv"
    )


def test_pending_files_are_the_settlement_files_not_yet_committed(landing, store):
    assert [p.name for p in pending_files(PAYMENTS, landing, store)] == [DAY_1, DAY_2]

    done = pl.DataFrame({"payment_id": ["pay_1"], "_batch_id": ["landing/payments/" + DAY_1]})
    delta_tables.write(store.uri(RAW_PAYMENTS), done, WriteSpec(WriteMode.APPEND), {})

    assert [p.name for p in pending_files(PAYMENTS, landing, store)] == [DAY_2]


def test_each_file_lands_once_with_rescued_lines_and_line_numbers(instance, landing, store):
    first = materialise(instance, landing, store)
    assert first.success
    metadata = materialised_metadata(first)
    assert metadata["files_ingested"].value == 2
    assert metadata["malformed_lines"].value == 1

    rows = store.scan(RAW_PAYMENTS).sort("_batch_id", "_row_number").collect()
    assert rows.select("_batch_id", "_row_number", "payment_id", "amount", "_rescued_data").rows() == [
        ("landing/payments/" + DAY_1, 2, "pay_1", "10.00", None),
        ("landing/payments/" + DAY_2, 2, "pay_2", "20.00", None),
        ("landing/payments/" + DAY_2, 3, None, None, "pay_3,3,12,50,EUR,card,2025-01-02T07:00:00Z"),
    ]
    assert rows.get_column("_run_id").unique().to_list() == [first.run_id]
    assert versions(store) == [(DAY_1, 1, None), (DAY_2, 2, None)]
    assert registered_digests_are_the_files(store, landing)

    again = materialise(instance, landing, store)
    assert again.success
    assert materialised_metadata(again)["files_ingested"].value == 0
    assert store.scan(RAW_PAYMENTS).select(pl.len()).collect().item() == 3


def test_a_settlement_file_in_latin1_is_quarantined_whole_and_the_others_load(
    instance, landing, store, tmp_path
):
    latin1 = "settlement_2025-01-03.csv"
    text = HEADER + "pay_4,4,5.00,EUR,tarjeta_crédito,2025-01-03T06:00:00Z\n"
    (tmp_path / "landing" / "payments" / latin1).write_bytes(text.encode("latin-1"))

    result = materialise(instance, landing, store)

    assert result.success
    assert materialised_metadata(result)["files_ingested"].value == 2
    loaded = store.scan(RAW_PAYMENTS).select("_batch_id").unique().sort("_batch_id").collect()
    assert loaded.get_column("_batch_id").to_list() == [
        "landing/payments/" + DAY_1,
        "landing/payments/" + DAY_2,
    ]
    rejected = store.scan(PAYMENTS.rejected_files_key).select("_batch_id", "rule", "reason").collect()
    assert rejected.rows() == [
        (
            "landing/payments/" + latin1,
            "encoding",
            "not utf-8 text: line 2 (byte offset 81) has the byte 0xe9 "
            "(declare the file set's encoding, or re-send it as utf-8)",
        )
    ]


def test_a_settlement_file_set_declared_latin1_decodes_its_accented_letters(
    instance, landing, store, tmp_path
):
    latin1 = PAYMENTS.source.model_copy(update={"encoding": "latin-1"})
    text = HEADER + "pay_4,4,5.00,EUR,tarjeta_crédito,2025-01-03T06:00:00Z\n"
    (tmp_path / "landing" / "payments" / "settlement_2025-01-03.csv").write_bytes(text.encode("latin-1"))

    result = materialise(instance, landing, store, FileSet("payments", latin1))

    assert materialised_metadata(result)["files_quarantined"].value == 0
    methods = store.scan(RAW_PAYMENTS).filter(pl.col("payment_id") == "pay_4").select("method").collect()
    assert methods.item() == "tarjeta_crédito"


def test_an_encoding_other_than_utf8_is_for_csv_and_must_be_known():
    declared = PAYMENTS.source.model_dump()
    with pytest.raises(ValueError, match="encoding latin-1 is for csv"):
        FileSource.model_validate(declared | {"format": "jsonl", "encoding": "latin-1"})
    with pytest.raises(ValueError, match="encoding 'klingon' is not a known text encoding"):
        FileSource.model_validate(declared | {"encoding": "klingon"})


INVENTORY = file_sets()["supplier_inventory"]


def snapshot(folder: Path, day: str, frame: pl.DataFrame, done: bool = True) -> Path:
    """A supplier snapshot as the supplier writes it: the Parquet file, then its done marker."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"inventory_{day}.parquet"
    frame.write_parquet(path)
    if done:
        (folder / f"{path.name}.done").touch()
    return path


def stock(day: str, on_hand: list, **extra: list) -> pl.DataFrame:
    n = len(on_hand)
    return pl.DataFrame(
        {
            "snapshot_date": [date.fromisoformat(day)] * n,
            "product_id": list(range(1, n + 1)),
            "sku": [f"SKU-{i}" for i in range(1, n + 1)],
            "on_hand": on_hand,
            "on_order": [0] * n,
            **extra,
        }
    )


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return tmp_path / "landing" / "inventory"


def test_parquet_snapshots_land_once_new_columns_merge_and_bad_files_are_quarantined_whole(
    instance, tmp_path, inventory, store
):
    landing = LandingZone(root=str(tmp_path / "landing"))
    snapshot(inventory, "2025-01-01", stock("2025-01-01", [5, 0]))
    snapshot(inventory, "2025-01-02", stock("2025-01-02", [4, 9], warehouse=["EU-1", "US-1"]))
    snapshot(inventory, "2025-01-03", stock("2025-01-03", ["3", "8"]))  # on_hand became text
    corrupt = snapshot(inventory, "2025-01-04", stock("2025-01-04", list(range(500))))
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    snapshot(inventory, "2025-01-05", stock("2025-01-05", [1, 1]), done=False)  # still being written

    first = materialise(instance, landing, store, INVENTORY)

    assert first.success
    metadata = materialised_metadata(first, INVENTORY.raw_key)
    assert metadata["files_ingested"].value == 2
    assert metadata["files_quarantined"].value == 2
    assert metadata["schema_changes"].value == "- inventory_2025-01-02.parquet: new column warehouse (String)"
    raw = store.scan(INVENTORY.raw_key).sort("_batch_id", "_row_number").collect()
    assert raw.select("_batch_id", "_row_number", "product_id", "on_hand", "warehouse").rows() == [
        ("landing/inventory/inventory_2025-01-01.parquet", 1, 1, 5, None),
        ("landing/inventory/inventory_2025-01-01.parquet", 2, 2, 0, None),
        ("landing/inventory/inventory_2025-01-02.parquet", 1, 1, 4, "EU-1"),
        ("landing/inventory/inventory_2025-01-02.parquet", 2, 2, 9, "US-1"),
    ]
    rejected = store.scan(INVENTORY.rejected_files_key).sort("_batch_id").collect()
    assert rejected.select("_batch_id", "rule").rows() == [
        ("landing/inventory/inventory_2025-01-03.parquet", "column_type"),
        ("landing/inventory/inventory_2025-01-04.parquet", "readable_file"),
    ]
    assert rejected.get_column("reason")[0] == "column type changed: on_hand is String, raw holds Int64"
    assert rejected.get_column("bytes")[1] == 100

    (inventory / "inventory_2025-01-05.parquet.done").touch()
    again = materialise(instance, landing, store, INVENTORY)
    assert materialised_metadata(again, INVENTORY.raw_key)["files_ingested"].value == 1
    assert materialised_metadata(again, INVENTORY.raw_key)["files_quarantined"].value == 0
    assert store.scan(INVENTORY.raw_key).select(pl.len()).collect().item() == 6
    assert store.scan(INVENTORY.rejected_files_key).select(pl.len()).collect().item() == 2
    assert pending_files(INVENTORY, landing, store) == []
    assert len(versions(store, INVENTORY)) == 3
    assert registered_digests_are_the_files(store, landing, INVENTORY)


def test_a_json_lines_file_set_reads_its_declared_fields(instance, tmp_path, store):
    returns = FileSet(
        "returns",
        FileSource(
            name="returns",
            description="Returned items.",
            location="returns",
            pattern="*.jsonl",
            format="jsonl",
            columns=["return_id", "order_id"],
            primary_key=["return_id"],
        ),
    )
    folder = tmp_path / "landing" / "returns"
    folder.mkdir(parents=True)
    (folder / "2025-01-01.jsonl").write_text('{"return_id": "r1", "order_id": 7}\nnot json\n')

    result = materialise(instance, LandingZone(root=str(tmp_path / "landing")), store, returns)

    assert materialised_metadata(result, returns.raw_key)["malformed_lines"].value == 1
    rows = store.scan(returns.raw_key).sort("_row_number").collect()
    assert rows.select("_row_number", "return_id", "order_id", "_rescued_data").rows() == [
        (1, "r1", "7", None),
        (2, None, None, "not json"),
    ]


def test_a_parquet_set_without_files_writes_nothing_so_its_first_file_sets_the_types(
    instance, tmp_path, inventory, store
):
    landing = LandingZone(root=str(tmp_path / "landing"))
    inventory.mkdir(parents=True)
    empty = materialise(instance, landing, store, INVENTORY)
    assert materialised_metadata(empty, INVENTORY.raw_key)["files_ingested"].value == 0
    assert not store.exists(INVENTORY.raw_key)

    snapshot(inventory, "2025-01-01", stock("2025-01-01", [5, 0]))
    first = materialise(instance, landing, store, INVENTORY)

    assert materialised_metadata(first, INVENTORY.raw_key)["files_quarantined"].value == 0
    assert store.scan(INVENTORY.raw_key).collect_schema()["on_hand"] == pl.Int64


def settlement(payments: int, changed: range = range(0)) -> str:
    """A settlement file of `payments` lines; the lines in `changed` with another amount."""
    lines = [
        f"pay_{i},{i},{'99.00' if i in changed else '10.00'},EUR,card,2025-01-03T06:00:00Z"
        for i in range(1, payments + 1)
    ]
    return HEADER + "\n".join(lines) + "\n"


def versions(store: DeltaStore, files: FileSet = PAYMENTS) -> list[tuple]:
    registry = store.scan(files.versions_key).sort("_ingested_at", "file")
    return registry.select("file", "rows", "replaces").collect().rows()


def registered_digests_are_the_files(
    store: DeltaStore, landing: LandingZone, files: FileSet = PAYMENTS
) -> bool:
    """Whether each version registered holds its file's SHA-256 (taken while the file was checked,
    read for it, or, for a version only registered, at discovery)."""
    registry = dict(store.scan(files.versions_key).select("file", "sha256").collect().rows())
    folder = Path(landing.root) / files.source.location
    return registry == {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in registry}


def test_a_resent_file_with_changed_content_is_a_new_version_that_corrects_the_earlier_one(
    instance, landing, store, tmp_path
):
    """Issue 13: the provider re-sends a settlement file under its name with 4 rows changed and
    1 added; it was skipped as already ingested, silently."""
    path = tmp_path / "landing" / "payments" / "settlement_2025-01-03.csv"
    path.write_text(settlement(10))
    materialise(instance, landing, store)
    first = "landing/payments/settlement_2025-01-03.csv"

    path.write_text(settlement(11, changed=range(1, 5)))
    resent = materialise(instance, landing, store)

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    metadata = materialised_metadata(resent)
    assert metadata["files_ingested"].value == 1
    assert metadata["files_corrected"].value == 1
    assert metadata["run_warnings"].value == [
        f"settlement_2025-01-03.csv: new version (sha256:{digest[:12]}) corrects {first}: "
        "4 row(s) changed, 1 added, 0 removed"
    ]
    second = store.scan(RAW_PAYMENTS).filter(pl.col("_batch_id") == f"{first}@sha256:{digest}")
    assert second.select(pl.len()).collect().item() == 11
    assert versions(store)[-1] == ("settlement_2025-01-03.csv", 11, first)

    again = materialise(instance, landing, store)  # the same content again: nothing to do
    assert materialised_metadata(again)["files_ingested"].value == 0
    assert pending_files(PAYMENTS, landing, store) == []


def test_a_file_of_the_size_and_modification_time_registered_is_not_read_again(
    instance, landing, store, tmp_path
):
    """Each run looks at every file the landing zone keeps: one as it was when registered is not
    hashed again (its content changed in place, size and time restored, is not seen); touched, it
    is hashed, and a new version only if its content changed."""
    path = tmp_path / "landing" / "payments" / "settlement_2025-01-03.csv"
    path.write_text(settlement(10))
    materialise(instance, landing, store)
    registered = path.stat()

    path.write_text(settlement(10, changed=range(1, 2)))
    assert path.stat().st_size == registered.st_size
    os.utime(path, ns=(registered.st_atime_ns, registered.st_mtime_ns))
    assert pending_files(PAYMENTS, landing, store) == []

    os.utime(path, ns=(registered.st_atime_ns, registered.st_mtime_ns + 1))
    assert pending_files(PAYMENTS, landing, store) == [path]


def test_a_modification_time_of_whole_seconds_is_not_trusted(instance, landing, store, tmp_path):
    """A store that keeps whole seconds (S3) could hide a file rewritten at the same size within
    the second: such a file is hashed on every look, and its changed content is seen."""
    path = tmp_path / "landing" / "payments" / "settlement_2025-01-03.csv"
    path.write_text(settlement(10))
    whole_second = 1_767_225_600 * 1_000_000_000
    os.utime(path, ns=(whole_second, whole_second))
    materialise(instance, landing, store)

    path.write_text(settlement(10, changed=range(1, 2)))
    os.utime(path, ns=(whole_second, whole_second))
    assert pending_files(PAYMENTS, landing, store) == [path]


def test_a_resent_file_under_the_quarantine_policy_is_held_for_review_as_its_version(
    instance, landing, store, tmp_path
):
    review = FileSet("payments", PAYMENTS.source.model_copy(update={"on_changed_file": "quarantine"}))
    path = tmp_path / "landing" / "payments" / "settlement_2025-01-03.csv"
    path.write_text(settlement(10))
    materialise(instance, landing, store, review)
    path.write_text(settlement(11, changed=range(1, 5)))

    resent = materialise(instance, landing, store, review)

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert materialised_metadata(resent)["files_quarantined"].value == 1
    rejected = store.scan(review.rejected_files_key).select("_batch_id", "rule", "reason").collect()
    assert rejected.rows() == [
        (
            f"landing/payments/settlement_2025-01-03.csv@sha256:{digest}",
            "changed_file",
            "content changed since it was ingested as landing/payments/settlement_2025-01-03.csv: "
            "held for review (on_changed_file: quarantine)",
        )
    ]
    assert store.scan(RAW_PAYMENTS).select(pl.len()).collect().item() == 3 + 10
    assert pending_files(review, landing, store) == []

    assert release_file(store, review, path.name) == 1  # reviewed: let it correct the earlier one
    released = materialise(instance, landing, store, review)
    assert materialised_metadata(released)["files_corrected"].value == 1
    assert store.scan(RAW_PAYMENTS).select(pl.len()).collect().item() == 3 + 10 + 11


def test_empty_and_header_only_files_are_recorded_as_ingested_so_they_are_not_pending_again(
    instance, landing, store, tmp_path
):
    folder = tmp_path / "landing" / "payments"
    (folder / "settlement_2025-01-03.csv").write_text("")
    (folder / "settlement_2025-01-04.csv").write_text(HEADER)

    materialise(instance, landing, store)

    assert versions(store) == [(DAY_1, 1, None), (DAY_2, 2, None), *[(n, 0, None) for n in EMPTY_FILES]]
    assert pending_files(PAYMENTS, landing, store) == []


EMPTY_FILES = ["settlement_2025-01-03.csv", "settlement_2025-01-04.csv"]


def test_a_file_in_raw_but_not_in_the_registry_is_registered_not_ingested_again(instance, landing, store):
    """A crash between the raw commit and the registry's: the next run registers what raw holds."""
    done = pl.DataFrame({"payment_id": ["pay_1"], "_batch_id": ["landing/payments/" + DAY_1]})
    delta_tables.write(store.uri(RAW_PAYMENTS), done, WriteSpec(WriteMode.APPEND), {})

    result = materialise(instance, landing, store)

    assert materialised_metadata(result)["files_ingested"].value == 1
    assert versions(store) == [(DAY_1, None, None), (DAY_2, 2, None)]
    assert registered_digests_are_the_files(store, landing)
    assert pending_files(PAYMENTS, landing, store) == []


def test_a_file_read_in_many_batches_lands_as_in_one_in_a_single_commit(instance, tmp_path, store):
    """A tiny read batch (16 bytes: about a line each) gives the same raw rows, line numbers and
    rescued lines as one read, and the run still commits raw once: all of it or nothing."""
    lines = [f"pay_{i},{i},{i}.00,EUR,card,2025-01-02T06:00:00Z" for i in range(1, 6)]
    lines[2] = "pay_3,3,12,50,EUR,card,2025-01-02T07:00:00Z"  # a decimal comma: rescued
    folder = tmp_path / "landing" / "payments"
    folder.mkdir(parents=True)
    (folder / DAY_1).write_text(HEADER + "\n".join(lines) + "\n")
    (folder / DAY_2).write_text(HEADER)  # header only: a version of 0 rows
    landing = tmp_path / "landing"
    one = DeltaStore(root=str(tmp_path / "one"))

    whole = materialise(instance, LandingZone(root=str(landing)), one)
    batched = materialise(instance, LandingZone(root=str(landing), batch_bytes=16), store)

    def table(at: DeltaStore, key: dg.AssetKey, *drop: str) -> pl.DataFrame:
        return at.scan(key).drop("_ingested_at", "_run_id", *drop).sort("_batch_id").collect()

    assert whole.success and batched.success
    assert table(store, RAW_PAYMENTS).sort("_row_number").equals(table(one, RAW_PAYMENTS).sort("_row_number"))
    assert table(store, RAW_PAYMENTS).filter(pl.col("_rescued_data").is_not_null()).select(
        "_row_number", "_rescued_data"
    ).rows() == [(4, lines[2])]
    versions = table(store, PAYMENTS.versions_key).select("file", "rows").rows()
    assert versions == [(DAY_1, 5), (DAY_2, 0)]
    assert materialised_metadata(batched)["malformed_lines"].value == 1
    assert DeltaTable(store.uri(RAW_PAYMENTS)).version() == 0


def test_the_registry_keeps_the_size_time_and_digest_of_the_bytes_read_not_of_an_earlier_look(
    landing, store, tmp_path
):
    """A file replaced between its discovery and its reading is registered as read: size,
    modification time and SHA-256 all from the reading whose rows land (one handle)."""
    path = tmp_path / "landing" / "payments" / DAY_1
    pending = file_versions(PAYMENTS, landing, store)
    discovered = next(f for f in pending if f.path == path).seen
    aside = path.with_name("aside.tmp")
    aside.write_text(settlement(3))
    os.utime(aside, ns=(discovered.st_mtime_ns + 5_000_000_123,) * 2)
    aside.replace(path)

    ingestion = ingest(PAYMENTS, pending, store)
    for _ in raw_batches(ingestion, "run").batches:  # the rows read, as the IO manager reads them
        pass
    registered = {row["file"]: row for row in ingestion.versions(pending)}[DAY_1]

    now = path.stat()
    assert (registered["bytes"], registered["modified_ns"]) == (now.st_size, now.st_mtime_ns)
    assert registered["bytes"] != discovered.st_size
    assert registered["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert registered["rows"] == 3


def test_a_later_version_that_changes_again_before_it_is_read_fails_and_commits_nothing(
    instance, landing, store, tmp_path
):
    """A re-sent file's batch id names the digest it had when discovered: when the file is
    replaced again before it is opened, the ingestion stops (a retry discovers it afresh)."""
    path = tmp_path / "landing" / "payments" / DAY_1
    materialise(instance, landing, store)
    path.write_text(settlement(2))
    pending = [f for f in file_versions(PAYMENTS, landing, store) if f.replaces is not None]
    path.write_text(settlement(4))

    with pytest.raises(FileChangedError, match=f"{DAY_1} changed while it was ingested"):
        ingest(PAYMENTS, pending, store)
