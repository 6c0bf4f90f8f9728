"""The inventory snapshots, read back from the files, against the order lines and their ground truth."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets_tests.simulator.helpers import inventory_files
from lakehouse.simulator import INVENTORY_DEFECTS_FILE, INVENTORY_DIR, generate
from lakehouse.simulator.inventory import WAREHOUSES
from lakehouse.simulator.model import build_world

START = date(2025, 1, 1)  # the demo's
BASE_SCHEMA = [
    ("snapshot_date", pa.date32()),
    ("product_id", pa.int64()),
    ("sku", pa.large_string()),
    ("on_hand", pa.int64()),
    ("on_order", pa.int64()),
]


def _name(day: int, start: date = START) -> str:
    return f"inventory_{start + timedelta(days=day):%Y-%m-%d}.parquet"


@pytest.fixture(scope="module")
def defects(demo: Path) -> pl.DataFrame:
    return pl.read_parquet(demo / INVENTORY_DEFECTS_FILE)


@pytest.fixture(scope="module")
def snapshots(demo: Path, demo_manifest: dict[str, Any]) -> pl.DataFrame:
    """Every row of every readable file with its file name, on_hand read as a number everywhere."""
    truth = demo_manifest["inventory"]
    folder = demo / INVENTORY_DIR
    frames = [
        pl.read_parquet(folder / _name(day))
        .with_columns(pl.col("on_hand").cast(pl.Int64), file=pl.lit(_name(day)))
        .with_row_index("position")
        for day in range(truth["files"])
        if _name(day) != truth["corrupt_file"]
    ]
    return pl.concat(frames, how="diagonal")


@pytest.fixture(scope="module")
def sold() -> pl.DataFrame:
    """snapshot_date, product_id, sold: the units of the demo's order lines, as the shop took them."""
    items = build_world(0.01, 42, START, 365)["order_items"]
    return (
        items.group_by("day", "product_id")
        .agg(sold=pl.col("quantity").sum())
        .select(snapshot_date=pl.lit(START) + pl.duration(days="day"), product_id="product_id", sold="sold")
    )


def test_a_short_run_writes_one_file_and_one_marker_a_day(tmp_path: Path) -> None:
    manifest = generate(tmp_path, scale=0.002, seed=7, days=30, start=date(2025, 3, 1))

    names = [_name(day, date(2025, 3, 1)) for day in range(30)]
    assert sorted(inventory_files(tmp_path)) == sorted([*names, *(f"{name}.done" for name in names)])
    markers = [content for name, content in inventory_files(tmp_path).items() if name.endswith(".done")]
    assert markers == [b""] * 30
    truth = manifest["inventory"]
    assert truth["files"] == 30
    assert truth["corrupt_file"] == "inventory_2025-03-06.parquet"
    assert truth["changed_type_file"] == "inventory_2025-03-13.parquet"
    assert truth["new_column"] == {"name": "warehouse", "from_date": "2025-09-01", "files": 0}
    assert truth["defect_counts"] == {
        "corrupt_file": 1,
        "changed_type": 1,
        "negative_on_hand": 1,
        "missing_product_id": 1,
        "duplicate_row": 1,
    }


def test_the_demo_defects_fall_on_their_days(defects: pl.DataFrame, demo_manifest: dict[str, Any]) -> None:
    truth = demo_manifest["inventory"]
    assert truth["corrupt_file"] == "inventory_2025-01-06.parquet"
    assert truth["changed_type_file"] == "inventory_2025-01-13.parquet"
    recorded = defects.select("defect", "day", file=pl.col("key").str.extract(r"^([^:]+)"))
    assert recorded.rows() == [
        ("negative_on_hand", 3, "inventory_2025-01-04.parquet"),
        ("corrupt_file", 5, "inventory_2025-01-06.parquet"),
        ("missing_product_id", 8, "inventory_2025-01-09.parquet"),
        ("duplicate_row", 10, "inventory_2025-01-11.parquet"),
        ("changed_type", 12, "inventory_2025-01-13.parquet"),
        ("negative_on_hand", 200, "inventory_2025-07-20.parquet"),
        ("missing_product_id", 250, "inventory_2025-09-08.parquet"),
        ("duplicate_row", 280, "inventory_2025-10-08.parquet"),
    ]
    whole_files = defects.filter(pl.col("table") == "supplier_inventory_files").get_column("defect")
    assert sorted(whole_files) == ["changed_type", "corrupt_file"]
    assert set(defects["table"]) == {"supplier_inventory_files", "supplier_inventory"}
    assert truth["defect_counts"] == dict(defects.group_by("defect").len().rows())


def test_the_corrupt_file_is_not_parquet_but_has_its_marker(
    demo: Path, demo_manifest: dict[str, Any]
) -> None:
    path = demo / INVENTORY_DIR / demo_manifest["inventory"]["corrupt_file"]
    assert path.with_name(path.name + ".done").exists()
    whole = pq.read_table(demo / INVENTORY_DIR / _name(4)).num_rows  # its neighbour reads fine
    assert whole == 100
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(path)
    with pytest.raises(pl.exceptions.ComputeError):
        pl.read_parquet(path)


def test_the_changed_type_file_holds_on_hand_as_text(demo: Path, demo_manifest: dict[str, Any]) -> None:
    schema = pq.read_schema(demo / INVENTORY_DIR / demo_manifest["inventory"]["changed_type_file"])
    on_hand_as_text = [(name, pa.large_string() if name == "on_hand" else kind) for name, kind in BASE_SCHEMA]
    assert list(zip(schema.names, schema.types, strict=True)) == on_hand_as_text


def test_the_warehouse_column_appears_from_its_date_on(demo: Path, demo_manifest: dict[str, Any]) -> None:
    truth = demo_manifest["inventory"]
    changed, corrupt = truth["changed_type_file"], truth["corrupt_file"]
    first_day = (date(2025, 9, 1) - START).days
    for day in range(365):
        if _name(day) in (changed, corrupt):
            continue
        schema = pq.read_schema(demo / INVENTORY_DIR / _name(day))
        new = [("warehouse", pa.large_string())] if day >= first_day else []
        assert list(zip(schema.names, schema.types, strict=True)) == [*BASE_SCHEMA, *new], day
    assert truth["new_column"] == {"name": "warehouse", "from_date": "2025-09-01", "files": 365 - first_day}
    assert truth["columns"] == {
        "snapshot_date": "date32",
        "product_id": "int64",
        "sku": "string",
        "on_hand": "int64",
        "on_order": "int64",
        "warehouse": "string",
    }


def test_each_file_is_one_snapshot_of_every_product(snapshots: pl.DataFrame) -> None:
    per_file = snapshots.group_by("file").agg(
        rows=pl.len(), dates=pl.col("snapshot_date").n_unique(), skus=pl.col("sku").n_unique()
    )
    assert per_file.height == 364
    assert set(per_file["dates"]) == {1}
    assert set(per_file["skus"]) == {100}
    duplicated = {"inventory_2025-01-11.parquet", "inventory_2025-10-08.parquet"}
    assert per_file.filter(pl.col("rows") != 100).sort("file").rows() == [
        (file, 101, 1, 100) for file in sorted(duplicated)
    ]
    assert set(snapshots["warehouse"].drop_nulls()) == set(WAREHOUSES)


def test_row_defects_are_exactly_the_recorded_ones(snapshots: pl.DataFrame, defects: pl.DataFrame) -> None:
    key = pl.format("{}:{}", "file", "sku")

    def recorded(defect: str) -> list[str]:
        return sorted(defects.filter(defect=defect)["key"])

    assert sorted(snapshots.filter(pl.col("on_hand") < 0).select(key).to_series()) == recorded(
        "negative_on_hand"
    )
    assert sorted(snapshots.filter(pl.col("product_id").is_null()).select(key).to_series()) == recorded(
        "missing_product_id"
    )
    copies = snapshots.filter(pl.struct(pl.exclude("position")).is_duplicated())
    assert sorted(copies.unique(pl.exclude("position")).select(key).to_series()) == recorded("duplicate_row")
    assert snapshots.filter(pl.col("on_order") < 0).is_empty()


def test_stock_moves_with_the_sales_and_the_arrivals(snapshots: pl.DataFrame, sold: pl.DataFrame) -> None:
    """on_hand(d) = max(0, on_hand(d - 1) - sold(d)) + arrived(d): arrived is 0 or the pending order."""
    clean = snapshots.filter(pl.col("on_hand") >= 0, pl.col("product_id").is_not_null()).unique(
        ["snapshot_date", "product_id"]
    )
    previous = clean.select(
        "product_id",
        "on_hand",
        "on_order",
        snapshot_date=pl.col("snapshot_date") + pl.duration(days=1),
    )
    steps = (
        clean.join(previous, on=["snapshot_date", "product_id"], suffix="_before")
        .join(sold, on=["snapshot_date", "product_id"], how="left")
        .with_columns(
            arrived=pl.col("on_hand")
            - pl.max_horizontal(pl.col("on_hand_before") - pl.col("sold").fill_null(0), pl.lit(0))
        )
    )
    assert steps.height > 35_000  # every product on every pair of consecutive clean days
    arrivals = pl.col("arrived") > 0
    assert steps.filter(pl.col("arrived") < 0).is_empty()
    assert steps.filter(arrivals, pl.col("arrived") != pl.col("on_order_before")).is_empty()
    waiting = steps.filter(~arrivals, pl.col("on_order_before") > 0)
    assert waiting.filter(pl.col("on_order") != pl.col("on_order_before")).is_empty()
    assert steps.filter(arrivals).height > 1_000
    assert steps.filter(pl.col("on_hand") == 0).height > 500  # stock-outs happen


def test_the_manifest_counts_what_the_files_hold(
    snapshots: pl.DataFrame, demo_manifest: dict[str, Any]
) -> None:
    truth = demo_manifest["inventory"]
    assert truth["directory"] == "landing/inventory"
    assert truth["files"] == 365
    assert truth["readable_rows"] == snapshots.height == 364 * 100 + 2
    assert truth["rows_written"] == 365 * 100 + 2
    clean = (
        snapshots.filter(
            pl.col("file") != truth["changed_type_file"],
            pl.col("on_hand") >= 0,
            pl.col("product_id").is_not_null(),
        )
        .drop("position")
        .unique()
    )
    assert truth["clean_rows"] == clean.height == 363 * 100 - 4
    assert truth["stockout_product_days"] == clean.filter(pl.col("on_hand") == 0).height
    last = clean.filter(pl.col("snapshot_date") == date(2025, 12, 31))
    assert truth["last_clean_day"] == {
        "date": "2025-12-31",
        "file": "inventory_2025-12-31.parquet",
        "products": 100,
        "on_hand": last["on_hand"].sum(),
        "on_order": last["on_order"].sum(),
        "stockout_products": last.filter(pl.col("on_hand") == 0).height,
    }
