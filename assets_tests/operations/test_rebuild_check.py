"""The rebuild check on two small lakehouses' sales marts with known differences: it names the
table, the rows only in one of them and the column whose values differ; bookkeeping columns and
row order do not count."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from lakehouse.defs.curated.dictionary import curated_specs
from lakehouse.operations.rebuild_check import difference, explained_rows, table_uri, unseen_history

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


CUSTOMERS = next(spec for spec in curated_specs() if spec.name == "dim_customer")
PAYMENTS = next(spec for spec in curated_specs() if spec.name == "fact_payments")
SIGNED_UP, DELETED = datetime(2025, 10, 2, 15, 42, tzinfo=UTC), datetime(2025, 12, 31, 9, 0, tzinfo=UTC)
JUST_BEFORE = DELETED - timedelta(microseconds=1)


def customers(tables: Path, versions: list[tuple[int, int, str | None, datetime, bool]]) -> None:
    """dim_customer holding these (customer_key, customer_id, country, valid_from, is_current)
    versions (a deletion's country is None)."""
    frame = pl.DataFrame(
        versions,
        schema=["customer_key", "customer_id", "country", "valid_from", "is_current"],
        orient="row",
    )
    frame.with_columns(_loaded_at=pl.lit(1)).write_delta(table_uri(str(tables), CUSTOMERS))


def payments(tables: Path, rows: list[tuple[str, int, str]]) -> None:
    """fact_payments holding these (payment_id, customer_key, amount) rows."""
    frame = pl.DataFrame(rows, schema=["payment_id", "customer_key", "amount"], orient="row")
    frame.write_delta(table_uri(str(tables), PAYMENTS))


def soft_deleted_customer(tmp_path: Path, rebuilt_amount: str = "5.00") -> tuple[str, str]:
    """Customer 2 signed up in October, seen alive by the incremental build, then soft-deleted on
    the new day: the rebuild sees only the deleted row, so its live version starts just before the
    deletion (another key, 22 rather than 20), and its payment points to that one. Customer 1 is the
    same in both."""
    built, rebuilt = tmp_path / "built", tmp_path / "rebuilt"
    customers(
        built, [(10, 1, "DE", SIGNED_UP, True), (20, 2, "FR", SIGNED_UP, False), (21, 2, None, DELETED, True)]
    )
    customers(
        rebuilt,
        [(10, 1, "DE", SIGNED_UP, True), (22, 2, "FR", JUST_BEFORE, False), (21, 2, None, DELETED, True)],
    )
    payments(built, [("p1", 10, "7.00"), ("p2", 20, "5.00")])
    payments(rebuilt, [("p1", 10, "7.00"), ("p2", 22, rebuilt_amount)])
    return str(built), str(rebuilt)


def test_history_the_sources_no_longer_hold_is_explained_not_failed(tmp_path: Path):
    built, rebuilt = soft_deleted_customer(tmp_path)

    unseen = unseen_history(built, rebuilt, CUSTOMERS)
    assert unseen is not None
    assert unseen.members.to_dicts() == [{"customer_id": 2}]
    assert unseen.versions.sort("customer_key").rows() == [(20, 2), (21, 2), (22, 2)]
    found = {CUSTOMERS.asset_key: unseen}
    told = {spec.name: explained_rows(built, rebuilt, spec, found) for spec in (CUSTOMERS, PAYMENTS)}
    assert {name: t.text for name, t in told.items() if t is not None} == {
        "dim_customer": "curated.dim_customer: 1 member(s) (customer_id 2) start later in the rebuild, "
        "their versions otherwise the same: the sources no longer hold the history the incremental build "
        "saw (a rebuild sees only current rows)",
        "fact_payments": "curated.fact_payments: 1 row(s) point to the members above (curated.dim_customer), "
        "the same once customer_key is read as the member it names",
    }
    assert all(
        difference(built, rebuilt, spec, told[spec.name].rows) is None for spec in (CUSTOMERS, PAYMENTS)
    )
    # Without the explanation, both tables differ.
    assert difference(built, rebuilt, CUSTOMERS) is not None
    assert difference(built, rebuilt, PAYMENTS) is not None


def test_a_row_pointing_to_such_a_member_that_differs_otherwise_still_fails(tmp_path: Path):
    built, rebuilt = soft_deleted_customer(tmp_path, rebuilt_amount="6.00")
    unseen = unseen_history(built, rebuilt, CUSTOMERS)
    assert unseen is not None

    assert explained_rows(built, rebuilt, PAYMENTS, {CUSTOMERS.asset_key: unseen}) is None
    found = difference(built, rebuilt, PAYMENTS)
    assert found is not None
    assert found.splitlines()[1:3] == ["  customer_key: 1 rows differ", "  amount: 1 rows differ"]


def test_a_member_whose_current_version_differs_is_no_unseen_history(tmp_path: Path):
    built, rebuilt = tmp_path / "built", tmp_path / "rebuilt"
    customers(built, [(20, 2, "FR", SIGNED_UP, False), (21, 2, None, DELETED, True)])
    customers(rebuilt, [(22, 2, "FR", JUST_BEFORE, True)])

    assert unseen_history(str(built), str(rebuilt), CUSTOMERS) is None


def test_a_row_pointing_to_another_such_member_still_fails(tmp_path: Path):
    """Customers 2 and 3 both start later in the rebuild; a payment of customer 2 in one build and of
    customer 3 in the other is a difference, not history the sources no longer hold."""
    built, rebuilt = tmp_path / "built", tmp_path / "rebuilt"
    deleted_2, deleted_3 = (21, 2, None, DELETED, True), (31, 3, None, DELETED, True)
    customers(built, [(20, 2, "FR", SIGNED_UP, False), deleted_2, (30, 3, "FR", SIGNED_UP, False), deleted_3])
    customers(
        rebuilt, [(22, 2, "FR", JUST_BEFORE, False), deleted_2, (32, 3, "FR", JUST_BEFORE, False), deleted_3]
    )
    payments(built, [("p2", 20, "5.00"), ("p3", 30, "5.00")])
    payments(rebuilt, [("p2", 32, "5.00"), ("p3", 22, "5.00")])
    unseen = unseen_history(str(built), str(rebuilt), CUSTOMERS)
    assert unseen is not None
    assert unseen.members.sort("customer_id").to_dicts() == [{"customer_id": 2}, {"customer_id": 3}]

    assert explained_rows(str(built), str(rebuilt), PAYMENTS, {CUSTOMERS.asset_key: unseen}) is None


def test_a_member_with_other_earlier_versions_is_no_unseen_history(tmp_path: Path):
    """The incremental build's earlier version of customer 2 says DE, the rebuild's FR: its history
    differs beyond where it starts."""
    built, rebuilt = tmp_path / "built", tmp_path / "rebuilt"
    customers(built, [(20, 2, "DE", SIGNED_UP, False), (21, 2, None, DELETED, True)])
    customers(rebuilt, [(22, 2, "FR", JUST_BEFORE, False), (21, 2, None, DELETED, True)])

    assert unseen_history(str(built), str(rebuilt), CUSTOMERS) is None
