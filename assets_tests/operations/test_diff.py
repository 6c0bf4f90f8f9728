"""The data diff between two versions of a table, by key, on small Delta tables with known changes."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

from lakehouse.operations.diff import REVENUE_TABLE, diff

MONEY = pl.Decimal(38, 2)


def sales(rows: list[tuple[date, str, str, str]]) -> pl.DataFrame:
    """Mart rows: (day, category, country, net USD), with a bookkeeping column that always differs."""
    return pl.DataFrame(
        {
            "order_date": [r[0] for r in rows],
            "category": [r[1] for r in rows],
            "country": [r[2] for r in rows],
            "net_usd": [Decimal(r[3]) for r in rows],
            "_built_at": [len(rows)] * len(rows),
        },
        schema_overrides={"net_usd": MONEY},
    )


D1, D2, D3 = date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)
KEY = ("order_date", "category", "country")


def test_rows_added_removed_and_changed_by_key_and_the_revenue_by_day(tmp_path: Path):
    uri = str(tmp_path / "mart")
    sales([(D1, "toys", "DE", "10.00"), (D1, "books", "US", "5.00"), (D2, "toys", "DE", "7.50")]).write_delta(
        uri
    )
    after = sales([(D1, "toys", "DE", "10.00"), (D2, "toys", "DE", "8.00"), (D3, "toys", "FR", "1.25")])
    after.write_delta(uri, mode="overwrite")

    found = diff(uri, REVENUE_TABLE, KEY, 0)

    assert (found.before, found.after, found.added, found.removed, found.changed) == (0, 1, 1, 1, 1)
    assert found.changed_columns == {"net_usd": 1}
    assert found.samples.rows() == [(D2, "toys", "DE", Decimal("7.50"), Decimal("8.00"))]
    assert found.headline.days_changed.rows() == [
        (D1, Decimal("15.00"), Decimal("10.00")),
        (D2, Decimal("7.50"), Decimal("8.00")),
        (D3, None, Decimal("1.25")),
    ]
    assert (found.headline.total_before, found.headline.total_after) == (Decimal("22.50"), Decimal("19.25"))
    assert "1 rows added, 1 removed, 1 changed" in found.text()
