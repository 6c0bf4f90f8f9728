"""Supplier inventory snapshots: the end-of-day stock of every product, one Parquet file a day.

Layout: `landing/inventory/inventory_YYYY-MM-DD.parquet`, rows by product, written as
`<name>.tmp`, renamed, then an empty marker `<name>.done` is written next to it: a reader takes
only the files whose marker exists. Columns: `snapshot_date` (date32), `product_id` (int64),
`sku` (string), `on_hand` (int64), `on_order` (int64); the files dated `WAREHOUSE_FROM` or later
have one more, `warehouse` (string: the product's warehouse), a schema evolution.

Stock follows the sales. Draws come from `np.random.default_rng([seed, INVENTORY_STREAM, day])`:
day 0's generator first draws each product's policy from its expected daily demand (orders a
day x units per order x its popularity): a reorder point of `COVER_DAYS` of demand, an order
quantity of `ORDER_DAYS` of demand, a starting stock between the reorder point and one order
above it, and a warehouse. Each day's generator then draws every product's lead time
(`LEAD_DAYS`) for an order placed that day. At the end of day d:

    on_hand(d) = max(0, on_hand(d - 1) - sold(d)) + arrived(d)

with `sold(d)` the units of the order lines placed on day d as the shop took them (before any
source defect; what a product lacks is a lost sale, never a back-order) and `arrived(d)` the
pending order when its lead time ends on d. Then, when nothing is on order and on_hand(d) is
below the reorder point, the order quantity is ordered: `on_order` holds it until it arrives.
A day's stock depends only on the days up to it, so longer simulations only add files.

Defects, on fixed days (so that a 30-day run shows each kind once), recorded in
`inventory_defects.parquet` (table: where the lakehouse quarantines it, `supplier_inventory_files`
for a whole file, `supplier_inventory` for a row; key: the file name, for a row `<file>:<sku>`):

| defect | days | what the file holds | handling | rule |
| --- | --- | --- | --- | --- |
| corrupt_file | 5 | the Parquet bytes cut in half (marker written) | quarantine | `readable_file` |
| changed_type | 12 | `on_hand` as text (`"12"`) | quarantine | `column_type` |
| negative_on_hand | 3, 200 | on_hand = -1 - on_hand | quarantine | `on_hand:greater_than_or_equal_to(0)` |
| missing_product_id | 8, 250 | one row's product_id null | quarantine | `product_id:not_nullable` |
| duplicate_row | 10, 280 | one row twice in a row | deduplicate | |

The defective row of a day is drawn with `np.random.default_rng([seed, 100 + INVENTORY_STREAM, day])`.

The manifest's `inventory` entry (computed from the clean snapshots, never read back):
`directory`; `files` (one a day); `columns` (name: type); `new_column` (`name`, `from_date`,
`files` holding it); `corrupt_file` and `changed_type_file` (names, null before their day);
`rows_written` (every row of every file, duplicates included); `readable_rows` (the same without
the corrupt file: the type-changed file's rows are in); `clean_rows` (rows of the files with no
whole-file defect that pass every rule, each once); `defect_counts`; `stockout_product_days`
(clean rows with on_hand 0); `last_clean_day` (`date`, `file`, `products`, and over its clean
rows the sums of `on_hand` and `on_order` and the `stockout_products`).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lakehouse.simulator.defects import DEFECT_STREAM_OFFSET, DEFECTS_SCHEMA, with_duplicates
from lakehouse.simulator.model import DAYS_PER_YEAR, Sizes, day_rng, product_popularity

INVENTORY_STREAM = 7  # the model's tables draw from streams 1-5, the clickstream from 6
INVENTORY_DIR = Path("landing") / "inventory"
INVENTORY_FILES = "inventory_*.parquet"
DONE_SUFFIX = ".done"
INVENTORY_DEFECTS_FILE = "inventory_defects.parquet"
# Where the lakehouse quarantines each defect: whole files, or rows (the defect file's `table`).
FILES_TABLE, ROWS_TABLE = "supplier_inventory_files", "supplier_inventory"
WAREHOUSE_FROM = date(2025, 9, 1)  # two thirds into the default year: files from then on have it
WAREHOUSES = ("EU-1", "US-1")
UNITS_PER_ORDER = 5.0  # 3 lines on average, of 5/3 units on average (geometric, p = 0.6)
COVER_DAYS = (3.0, 10.0)  # the reorder point, in days of expected demand
ORDER_DAYS = (14.0, 42.0)  # the order quantity, in days of expected demand
LEAD_DAYS = (2, 6)  # from ordering to arrival, both inclusive

NEW_COLUMN = "warehouse"
COLUMN_TYPES = {  # Arrow names (pyarrow reads the strings Polars writes as large_string)
    "snapshot_date": "date32",
    "product_id": "int64",
    "sku": "string",
    "on_hand": "int64",
    "on_order": "int64",
    NEW_COLUMN: "string",
}


@dataclass(frozen=True)
class InventoryDefect:
    defect: str
    handling: str
    rule: str | None
    days: tuple[int, ...]  # the days whose file carries it
    whole_file: bool = False


INVENTORY_DEFECT_KINDS = (
    InventoryDefect("corrupt_file", "quarantine", "readable_file", (5,), whole_file=True),
    InventoryDefect("changed_type", "quarantine", "column_type", (12,), whole_file=True),
    InventoryDefect("negative_on_hand", "quarantine", "on_hand:greater_than_or_equal_to(0)", (3, 200)),
    InventoryDefect("missing_product_id", "quarantine", "product_id:not_nullable", (8, 250)),
    InventoryDefect("duplicate_row", "deduplicate", None, (10, 280)),
)


class Supplier:
    """The supplier's snapshots, range of days after range of days (from day 0, without gaps),
    and their ground truth. It carries each product's stock, pending order and its arrival day,
    and the truth's counters (`carried`): a few numbers a product, whatever the history."""

    def __init__(
        self,
        products: pl.DataFrame,
        scale: float,
        seed: int,
        start: date,
        days: int,
        carried: tuple[dict[str, np.ndarray], dict[str, Any]] | None = None,
    ) -> None:
        self.products, self.seed, self.start = products, seed, start
        self.day_zero = day_rng(seed, INVENTORY_STREAM, 0)
        self.policy = _policy(self.day_zero, seed, scale)  # drawn before day 0's lead times
        self.marks = _marks(products.height, seed, days)
        self.files = (
            pl.DataFrame({"day": np.arange(days)})
            .with_columns(
                file=pl.format("inventory_{}.parquet", _snapshot_date(start).dt.strftime("%Y-%m-%d"))
            )
            .join(
                self.marks.filter(pl.col("row").is_null()).select("day", "defect"),
                on="day",
                how="left",
                maintain_order="left",
            )
        )
        size = products.height
        stock, counts = carried or (
            {
                "stock": self.policy["initial"],
                "pending": np.zeros(size, np.int64),
                "arrival": np.full(size, -1),
            },
            {name: 0 for name in _COUNTERS} | {"last_clean_day": None},
        )
        self.stock, self.counts = stock, counts

    def snapshots(self, items: pl.DataFrame, first: int, end: int) -> pl.DataFrame:
        """day + COLUMN_TYPES: the rows written for days `first` to `end` (excluded), row defects
        in (by day, then product), from the world's order lines of those days."""
        size = self.products.height
        rngs = [
            self.day_zero if day == 0 else day_rng(self.seed, INVENTORY_STREAM, day)
            for day in range(first, end)
        ]
        on_hand, on_order = self._step(_units_sold(items, size, first, end), rngs, first)
        clean = _snapshots(self.products, self.policy["warehouse"], on_hand, on_order, self.start, first)
        marks = self.marks.filter(pl.col("day").is_between(first, end - 1)).with_columns(
            row=pl.col("row") - first * size
        )
        rows = _with_row_defects(clean, marks)
        self._tally(clean, rows, marks)
        return rows

    def _step(
        self, sold: np.ndarray, rngs: list[np.random.Generator], first: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """End-of-day on_hand and on_order (days x products): one vectorised step a day."""
        on_hand, on_order = np.empty_like(sold), np.empty_like(sold)
        stock, pending, arrival = self.stock["stock"], self.stock["pending"], self.stock["arrival"]
        for index, rng in enumerate(rngs):
            day = first + index
            lead = rng.integers(LEAD_DAYS[0], LEAD_DAYS[1] + 1, len(stock))
            arrives = arrival == day
            stock = np.maximum(stock - sold[index], 0) + np.where(arrives, pending, 0)
            pending = np.where(arrives, 0, pending)
            orders = (pending == 0) & (stock < self.policy["reorder_point"])
            pending = np.where(orders, self.policy["quantity"], pending)
            arrival = np.where(orders, day + lead, arrival)
            on_hand[index], on_order[index] = stock, pending
        self.stock = {"stock": stock, "pending": pending, "arrival": arrival}
        return on_hand, on_order

    def _tally(self, clean: pl.DataFrame, rows: pl.DataFrame, marks: pl.DataFrame) -> None:
        """Add the range's rows to the truth's counters."""
        quarantined = [kind.defect for kind in INVENTORY_DEFECT_KINDS if kind.handling == "quarantine"]
        whole_file = self.files.filter(pl.col("defect").is_not_null())
        keep = np.ones(clean.height, dtype=bool)
        keep[_row_marks(marks).filter(pl.col("defect").is_in(quarantined)).get_column("row").to_numpy()] = (
            False
        )
        # Counted lazily: a filtered copy of the snapshots would double the memory.
        clean_rows = clean.lazy().filter(keep, ~pl.col("day").is_in(whole_file.get_column("day").implode()))
        corrupt_days = whole_file.filter(pl.col("defect") == "corrupt_file").get_column("day")
        counts = clean_rows.select(rows=pl.len(), stockouts=(pl.col("on_hand") == 0).sum()).collect().row(0)
        last = clean_rows.filter(pl.col("day") == pl.col("day").max()).collect()
        self.counts["rows_written"] += rows.height
        self.counts["readable_rows"] += rows.height - int(
            rows.get_column("day").is_in(corrupt_days.implode()).sum()
        )
        self.counts["clean_rows"] += counts[0]
        self.counts["stockout_product_days"] += counts[1]
        self.counts["new_column_files"] += (
            clean.filter(pl.col(NEW_COLUMN).is_not_null()).get_column("day").n_unique()
        )
        if last.height:
            self.counts["last_clean_day"] = {
                "date": last.get_column("snapshot_date")[0].isoformat(),
                "file": self.files.get_column("file")[last.get_column("day")[0]],
                "products": last.height,
                "on_hand": int(last.get_column("on_hand").sum()),
                "on_order": int(last.get_column("on_order").sum()),
                "stockout_products": last.filter(pl.col("on_hand") == 0).height,
            }

    def defects(self) -> pl.DataFrame:
        """DEFECTS_SCHEMA, one row per injected defect."""
        return _defect_records(self.marks, self.products.get_column("sku"), self.files)

    def truth(self) -> dict[str, Any]:
        """The manifest's `inventory` entry."""
        whole_file = self.files.filter(pl.col("defect").is_not_null())
        counts = dict(self.marks.group_by("defect").len().iter_rows())

        def file_of(defect: str) -> str | None:
            names = whole_file.filter(pl.col("defect") == defect).get_column("file")
            return names[0] if len(names) else None

        return {
            "directory": INVENTORY_DIR.as_posix(),
            "files": self.files.height,
            "columns": COLUMN_TYPES,
            "new_column": {
                "name": NEW_COLUMN,
                "from_date": WAREHOUSE_FROM.isoformat(),
                "files": self.counts["new_column_files"],
            },
            "corrupt_file": file_of("corrupt_file"),
            "changed_type_file": file_of("changed_type"),
            "rows_written": self.counts["rows_written"],
            "readable_rows": self.counts["readable_rows"],
            "clean_rows": self.counts["clean_rows"],
            "defect_counts": {kind.defect: counts.get(kind.defect, 0) for kind in INVENTORY_DEFECT_KINDS},
            "stockout_product_days": self.counts["stockout_product_days"],
            "last_clean_day": self.counts["last_clean_day"],
        }

    def carried(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """What the next range needs: the stock arrays and the truth's counters."""
        return self.stock, self.counts


_COUNTERS = ("rows_written", "readable_rows", "clean_rows", "stockout_product_days", "new_column_files")


def _snapshot_date(start: date) -> pl.Expr:
    return pl.lit(start) + pl.duration(days=pl.col("day"))


def _policy(rng: np.random.Generator, seed: int, scale: float) -> dict[str, np.ndarray]:
    """Each product's reorder point, order quantity, starting stock and warehouse."""
    orders_per_day = Sizes.for_scale(scale).orders_per_year / DAYS_PER_YEAR
    demand = orders_per_day * UNITS_PER_ORDER * product_popularity(seed, scale)
    size = len(demand)
    reorder_point = np.ceil(demand * rng.uniform(*COVER_DAYS, size)).astype(np.int64)
    quantity = np.ceil(demand * rng.uniform(*ORDER_DAYS, size)).astype(np.int64)
    return {
        "reorder_point": reorder_point,
        "quantity": quantity,
        "initial": reorder_point + rng.integers(0, quantity + 1),
        "warehouse": rng.integers(0, len(WAREHOUSES), size),
    }


def _units_sold(items: pl.DataFrame, products: int, first: int, end: int) -> np.ndarray:
    """Units of each product (column: product_id - 1) in the order lines placed each day (row:
    day - first) from `first` to `end` (excluded)."""
    days = end - first
    cell = (
        (items.get_column("day").to_numpy() - first) * products
        + items.get_column("product_id").to_numpy()
        - 1
    )
    units = np.bincount(cell, weights=items.get_column("quantity").to_numpy(), minlength=days * products)
    return units.astype(np.int64).reshape(days, products)


def _snapshots(
    products: pl.DataFrame,
    warehouse: np.ndarray,
    on_hand: np.ndarray,
    on_order: np.ndarray,
    start: date,
    first: int,
) -> pl.DataFrame:
    """day + COLUMN_TYPES: every product on every day from `first`, `warehouse` null before
    WAREHOUSE_FROM."""
    days, size = on_hand.shape
    product = np.tile(np.arange(size), days)
    snapshot_date = _snapshot_date(start)
    return pl.DataFrame(
        {
            "day": np.repeat(np.arange(first, first + days), size),
            "product_id": products.get_column("product_id").gather(product),
            "sku": products.get_column("sku").gather(product),
            "on_hand": on_hand.ravel(),
            "on_order": on_order.ravel(),
            "warehouse": pl.Series(WAREHOUSES, dtype=pl.String).gather(np.tile(warehouse, days)),
        }
    ).select(
        "day",
        snapshot_date.alias("snapshot_date"),
        "product_id",
        "sku",
        "on_hand",
        "on_order",
        pl.when(snapshot_date >= WAREHOUSE_FROM).then("warehouse").alias("warehouse"),
    )


def _marks(products: int, seed: int, days: int) -> pl.DataFrame:
    """day, row (its index in the clean snapshots; null: the whole file), defect: every defect of
    the first `days` days."""
    marks = []
    for kind in INVENTORY_DEFECT_KINDS:
        for day in (day for day in kind.days if day < days):
            rng = day_rng(seed, DEFECT_STREAM_OFFSET + INVENTORY_STREAM, day)
            row = None if kind.whole_file else day * products + int(rng.integers(0, products))
            marks.append({"day": day, "row": row, "defect": kind.defect})
    schema = {"day": pl.Int64, "row": pl.Int64, "defect": pl.String}
    return pl.DataFrame(marks, schema=schema).sort("day")


def _row_marks(marks: pl.DataFrame) -> pl.DataFrame:
    return marks.filter(pl.col("row").is_not_null())


def _with_row_defects(clean: pl.DataFrame, marks: pl.DataFrame) -> pl.DataFrame:
    row_marks = _row_marks(marks)
    defect = pl.repeat(None, clean.height, dtype=pl.String, eager=True).scatter(
        row_marks.get_column("row"), row_marks.get_column("defect")
    )
    is_ = pl.col("defect").eq
    return (
        with_duplicates(clean.with_columns(defect=defect))
        .with_columns(
            on_hand=pl.when(is_("negative_on_hand")).then(-1 - pl.col("on_hand")).otherwise("on_hand"),
            product_id=pl.when(is_("missing_product_id")).then(None).otherwise("product_id"),
        )
        .drop("defect")
    )


def _defect_records(marks: pl.DataFrame, skus: pl.Series, files: pl.DataFrame) -> pl.DataFrame:
    kinds = pl.DataFrame(
        [(kind.defect, kind.handling, kind.rule, kind.whole_file) for kind in INVENTORY_DEFECT_KINDS],
        schema={"defect": pl.String, "handling": pl.String, "rule": pl.String, "whole_file": pl.Boolean},
        orient="row",
    )
    row = pl.col("row")
    sku = pl.when(row.is_not_null()).then(pl.lit(skus).gather(row.fill_null(0) % len(skus)))
    return (
        marks.join(files.drop("defect"), on="day")
        .join(kinds, on="defect")
        .select(
            table=pl.when("whole_file").then(pl.lit(FILES_TABLE)).otherwise(pl.lit(ROWS_TABLE)),
            key=pl.when(row.is_null()).then("file").otherwise(pl.format("{}:{}", "file", sku)),
            defect="defect",
            handling="handling",
            rule="rule",
            day="day",
        )
        .cast(DEFECTS_SCHEMA)
    )


def write_files(out_dir: Path, rows: pl.DataFrame, files: pl.DataFrame, first: int, end: int) -> int:
    """Write the files of days `first` to `end` (excluded) from their `rows` (`Supplier.snapshots`),
    each then its marker; returns how many."""
    directory = out_dir / INVENTORY_DIR
    directory.mkdir(parents=True, exist_ok=True)
    bounds = np.searchsorted(rows.get_column("day").to_numpy(), np.arange(first, end + 1))
    for day, low, high in zip(range(first, end), bounds[:-1], bounds[1:], strict=True):
        part = rows.slice(low, high - low)  # rows are by day: a view, not a copy
        _, name, defect = files.row(day)
        path = directory / name
        partial = path.with_name(path.name + ".tmp")
        partial.write_bytes(_file_bytes(part, defect))
        os.replace(partial, path)
        path.with_name(path.name + DONE_SUFFIX).write_bytes(b"")
    return end - first


def _file_bytes(rows: pl.DataFrame, defect: str | None) -> bytes:
    """One day's Parquet file: `warehouse` only from its date on, then the file's own defect."""
    has_new_column = rows.get_column("snapshot_date")[0] >= WAREHOUSE_FROM
    columns = [name for name in COLUMN_TYPES if name != NEW_COLUMN or has_new_column]
    frame = rows.select(columns)
    if defect == "changed_type":
        frame = frame.with_columns(pl.col("on_hand").cast(pl.String))
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    data = buffer.getvalue()
    return data[: len(data) // 2] if defect == "corrupt_file" else data
