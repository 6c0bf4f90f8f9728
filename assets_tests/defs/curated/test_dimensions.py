"""Dimensions: versions of each member (SCD2) plus the unknown member (key -1); a gap-free calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import polars as pl
import pytest

from assets_tests.defs.curated.support import output_of
from lakehouse.defs.curated.dimensions import DIM_CUSTOMER, DIM_PRODUCT, dim_customer, dim_date, dim_product
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteSpec

AT = datetime(2025, 1, 2, 6, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def t(hour: int) -> datetime:
    return datetime(2025, 1, 3, hour, tzinfo=UTC)


def customers(
    rows: list[tuple[int, str | None, str, datetime]],
    refined_at: datetime,
    deleted_at: datetime | None = None,
) -> pl.LazyFrame:
    """Refined customers: (id, country, email_hash, updated_at) rows refined at `refined_at`."""
    return pl.LazyFrame(
        {
            "customer_id": [r[0] for r in rows],
            "email_hash": [r[2] for r in rows],
            "first_name": ["Ann"] * len(rows),
            "last_name": ["Lee"] * len(rows),
            "country": [r[1] for r in rows],
            "signup_at": [datetime(2024, 12, 31, 23, 30, tzinfo=UTC)] * len(rows),
            "updated_at": [r[3] for r in rows],
            "deleted_at": [deleted_at] * len(rows),
            "_refined_at": [refined_at] * len(rows),
        },
        schema_overrides={"deleted_at": pl.Datetime("us", "UTC")},
    )


def build(store: DeltaStore, asset: dg.AssetsDefinition, **refined: pl.LazyFrame) -> int:
    """Build and write a dimension as the IO manager does; the rows the build emitted."""
    changes = output_of(asset, context=dg.build_asset_context(), store=store, **refined).value
    delta_tables.write(
        store.uri(asset.key), changes, WriteSpec.from_metadata(asset.metadata_by_key[asset.key]), {}
    )
    return changes.height


def history(store: DeltaStore, key: dg.AssetKey, *columns: str) -> list[tuple]:
    return store.scan(key).select(*columns).sort(columns[0], "valid_from").collect().rows()


def test_dim_customer_starts_with_one_version_per_customer_and_the_unknown_member(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    build(store, dim_customer, customers=customers([(10, "DE", "h10", AT), (11, None, "h11", AT)], AT))

    dim = store.scan(DIM_CUSTOMER).collect().sort("customer_id")
    assert dim.select(
        "customer_key", "customer_id", "country", "valid_from", "valid_to", "is_current"
    ).rows() == [
        (-1, -1, "unknown", EPOCH, None, True),
        (dim["customer_key"][1], 10, "DE", AT, None, True),
        (dim["customer_key"][2], 11, "unknown", AT, None, True),
    ]
    assert dim["customer_key"].n_unique() == 3 and (dim["customer_key"][1:] > 0).all()
    assert dim["signup_date"].to_list() == [None, date(2024, 12, 31), date(2024, 12, 31)]
    assert not {"first_name", "last_name", "email", "updated_at"} & set(dim.columns)


def test_a_country_change_starts_a_version_and_a_late_change_lands_by_its_source_time(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    build(store, dim_customer, customers=customers([(10, "DE", "h1", t(2))], t(2)))
    first_key = store.scan(DIM_CUSTOMER).filter(pl.col("customer_id") == 10).collect()["customer_key"].item()
    build(store, dim_customer, customers=customers([(10, "FR", "h2", t(4))], t(5)))
    # refined later, but changed in the source before the move to FR: it lands between DE and FR
    build(store, dim_customer, customers=customers([(10, "GB", "h3", t(3))], t(6)))

    assert history(
        store, DIM_CUSTOMER, "customer_id", "country", "email_hash", "valid_from", "valid_to", "is_current"
    ) == [
        (-1, "unknown", None, EPOCH, None, True),
        (10, "DE", "h2", t(2), t(3), False),
        (10, "GB", "h2", t(3), t(4), False),
        (10, "FR", "h2", t(4), None, True),
    ]
    # type 1 (email_hash): every version shows the value of the newest change in source time (h2);
    # the first version keeps its surrogate key
    de = store.scan(DIM_CUSTOMER).filter(pl.col("country") == "DE").collect()["customer_key"].item()
    assert de == first_key


def test_a_deletion_closes_the_current_version_at_its_time_even_after_the_last_update(tmp_path):
    """Purged from the source: found deleted at 09:00, last updated at 04:00."""
    store = DeltaStore(root=str(tmp_path))
    build(store, dim_customer, customers=customers([(10, "DE", "h1", t(2))], t(2)))
    build(store, dim_customer, customers=customers([(10, "FR", "h2", t(4))], t(5)))
    build(store, dim_customer, customers=customers([(10, "FR", "h2", t(4))], t(9), deleted_at=t(9)))

    assert history(
        store, DIM_CUSTOMER, "customer_id", "country", "valid_from", "valid_to", "is_current", "is_deleted"
    ) == [
        (-1, "unknown", EPOCH, None, True, False),
        (10, "DE", t(2), t(4), False, False),
        (10, "FR", t(4), t(9), False, False),
        (10, None, t(9), None, True, True),
    ]
    # nothing refined since: the deletion is not taken again
    assert (
        build(store, dim_customer, customers=customers([(10, "FR", "h2", t(4))], t(9), deleted_at=t(9))) == 0
    )


def test_a_member_first_seen_deleted_keeps_its_last_state_until_the_deletion(tmp_path):
    """A soft delete moves updated_at with deleted_at: the state and the deletion are one change."""
    store = DeltaStore(root=str(tmp_path))
    build(store, dim_customer, customers=customers([(10, "DE", "h1", t(6))], t(7), deleted_at=t(6)))

    assert history(store, DIM_CUSTOMER, "customer_id", "country", "valid_from", "valid_to", "is_deleted") == [
        (-1, "unknown", EPOCH, None, False),
        (10, "DE", t(6) - timedelta(microseconds=1), t(6), False),
        (10, None, t(6), None, True),
    ]


def test_a_rebuild_with_nothing_refined_since_writes_nothing(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    refined = customers([(10, "DE", "h1", t(2))], t(2))
    build(store, dim_customer, customers=refined)
    version = store.version(DIM_CUSTOMER)

    assert build(store, dim_customer, customers=refined) == 0
    assert store.version(DIM_CUSTOMER) == version


def test_dim_product_keeps_history_of_price_and_category_and_the_latest_name(tmp_path):
    def products(price: str, name: str, updated: datetime) -> pl.LazyFrame:
        return pl.LazyFrame(
            {
                "product_id": [7],
                "sku": ["SKU-7"],
                "name": [name],
                "category": ["kitchen"],
                "unit_price": [Decimal(price)],
                "updated_at": [updated],
                "deleted_at": [None],
                "_refined_at": [updated],
            },
            schema_overrides={"unit_price": pl.Decimal(18, 2), "deleted_at": pl.Datetime("us", "UTC")},
        )

    store = DeltaStore(root=str(tmp_path))
    build(store, dim_product, products=products("12.50", "Mug", t(1)))
    build(store, dim_product, products=products("12.50", "Big mug", t(2)))  # a type 1 change
    build(store, dim_product, products=products("14.00", "Big mug", t(3)))

    assert history(store, DIM_PRODUCT, "product_id", "category", "name", "list_price_usd", "valid_from") == [
        (-1, "unknown", None, None, EPOCH),
        (7, "kitchen", "Big mug", Decimal("12.50"), t(1)),
        (7, "kitchen", "Big mug", Decimal("14.00"), t(3)),
    ]


def test_dim_date_spans_first_order_to_last_order_or_settlement_without_gaps():
    orders = pl.LazyFrame({"order_date": [date(2025, 2, 28), date(2025, 3, 1)]})
    payments = pl.LazyFrame({"settled_at": [datetime(2025, 3, 2, 23, 59, tzinfo=UTC)]})

    dim = output_of(dim_date, orders=orders, payments=payments).value

    assert dim.select(
        "date_key", "year", "quarter", "month", "month_name", "day_of_month", "day_of_week", "is_weekend"
    ).rows() == [
        (20250228, 2025, 1, 2, "February", 28, 5, False),
        (20250301, 2025, 1, 3, "March", 1, 6, True),
        (20250302, 2025, 1, 3, "March", 2, 7, True),
    ]


@pytest.mark.parametrize(
    ("table", "dim", "key"),
    [("customers", "dim_customer", "customer_id"), ("products", "dim_product", "product_id")],
)
def test_the_members_deleted_are_exactly_the_simulators_deletes(
    any_lakehouse, table: str, dim: str, key: str
):
    deletes = any_lakehouse.manifest["deletes"][table]
    versions = pl.read_delta(str(any_lakehouse.settings.tables_dir / "curated" / dim))
    members = set(versions[key].to_list()) - {-1}
    soft = {int(k): v for k, v in deletes["soft"].items() if int(k) in members}
    hard = {int(k) for k in deletes["hard"] if int(k) in members}

    deleted = versions.filter("is_current", "is_deleted")
    assert soft and set(deleted[key].to_list()) == set(soft) | hard
    # a soft delete closes the member at its deleted_at; before it, the member had a live version
    soft_deletions = deleted.filter(pl.col(key).is_in(list(soft)))
    assert dict(soft_deletions.select(key, "valid_from").rows()) == {
        k: datetime.fromisoformat(v) if isinstance(v, str) else v for k, v in soft.items()
    }
    live = versions.filter(~pl.col("is_deleted"), pl.col(key).is_in(list(soft)))
    assert set(live[key].to_list()) == set(soft)
