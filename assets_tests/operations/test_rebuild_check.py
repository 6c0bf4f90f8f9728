"""The rebuild check on two small lakehouses' sales marts with known differences: it names the
table, the rows only in one of them and the column whose values differ; bookkeeping columns and
row order do not count."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

from lakehouse.defs.curated.dictionary import curated_specs
from lakehouse.operations.rebuild_check import difference, table_uri

SALES = next(spec for spec in curated_specs() if spec.name == "mart_daily_sales")
D1, D2, D3 = date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)


def lakehouse_with(tables: Path, rows: list[tuple[date, str, str, str]], built_at: int) -> str:
    """A lakehouse's tables folder holding only the sales mart, with these (day, category,
    country, net USD) rows and a bookkeeping column of its own."""
    frame = pl.DataFrame(
        {
            "order_date": [r[0] for r in rows],
            "category": [r[1] for r in rows],
            "country": [r[2] for r in rows],
            "net_usd": [Decimal(r[3]) for r in rows],
            "_built_at": [built_at] * len(rows),
        },
        schema_overrides={"net_usd": pl.Decimal(38, 2)},
    )
    frame.write_delta(table_uri(str(tables), SALES))
    return str(tables)


def test_the_same_rows_in_another_order_and_build_time_are_no_difference(tmp_path: Path):
    rows = [(D1, "toys", "DE", "10.00"), (D2, "books", "US", "5.00")]
    built = lakehouse_with(tmp_path / "built", rows, built_at=1)
    rebuilt = lakehouse_with(tmp_path / "rebuilt", rows[::-1], built_at=2)

    assert difference(built, rebuilt, SALES) is None


def test_a_difference_names_the_table_the_rows_and_the_column(tmp_path: Path):
    built = lakehouse_with(
        tmp_path / "built",
        [(D1, "toys", "DE", "10.00"), (D2, "toys", "DE", "8.00"), (D3, "toys", "FR", "1.25")],
        1,
    )
    rebuilt = lakehouse_with(
        tmp_path / "rebuilt", [(D1, "toys", "DE", "10.00"), (D2, "toys", "DE", "7.50")], 1
    )

    found = difference(built, rebuilt, SALES)

    assert found is not None
    assert found.splitlines()[:2] == [
        "curated.mart_daily_sales: 3 rows built incrementally, 2 rebuilt; by key order_date, category, "
        "country: 1 only in the incremental build, 0 only in the rebuild, 1 with other values",
        "  net_usd: 1 rows differ",
    ]
