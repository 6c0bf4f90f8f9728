"""The whole lakehouse built from the shop database on a real PostgreSQL server equals the SQLite build.

Same simulation (scale, seed, days) written once into SQLite and once into PostgreSQL; both built
end to end through Dagster; every table, total and quarantine must match, and match the manifest.
Then one more day on both, extracted incrementally. The simulation is the cached month's, whose day
more on SQLite the session's `incremental_builds` already builds: one whole build fewer here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import MONTH, IncrementalBuilds, Lakehouse, copy_of_build
from assets_tests.postgres_server import PostgresServer
from lakehouse import simulator
from lakehouse.components.declared import shop_tables
from lakehouse.definitions import build_definitions
from lakehouse.operations.runner import BuildOutcome
from lakehouse.settings import get_settings

LAYERS = ("raw", "refined", "quarantine", "curated")


class PostgresLakehouse(Lakehouse):
    """A lakehouse whose shop database is on the PostgreSQL server, named by LAKEHOUSE_SHOP_DB_URI."""

    def build(self, instance: dg.DagsterInstance) -> BuildOutcome:
        with shop_db_uri(self.settings.shop_db_uri):  # read when the run starts its resources
            return super().build(instance)

    def advance(self, days: int = 1) -> None:
        self.manifest = simulator.advance(self.settings.sources_dir, days, db_uri=self.settings.shop_db_uri)


@contextmanager
def shop_db_uri(uri: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("LAKEHOUSE_SHOP_DB_URI", uri)
        yield


def build_on_postgresql(data_dir: Path, instance: dg.DagsterInstance, uri: str) -> PostgresLakehouse:
    with shop_db_uri(uri):
        settings = get_settings(data_dir)
        definitions = build_definitions(settings)
    assert settings.shop_db_uri == uri
    manifest = simulator.generate(settings.sources_dir, **MONTH, db_uri=uri)
    assert not (settings.sources_dir / simulator.DB_FILE).exists()  # the database is on the server only
    lakehouse = PostgresLakehouse(settings, definitions, manifest, outcome=None)  # type: ignore[arg-type]
    lakehouse.build(instance)
    return lakehouse


@pytest.fixture(scope="module")
def builds(
    tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance, postgres_server: PostgresServer
) -> tuple[Lakehouse, PostgresLakehouse]:
    sqlite = copy_of_build(tmp_path_factory.mktemp("sqlite"), instance, **MONTH)
    uri = postgres_server.create_database("shop_pipeline")
    return sqlite, build_on_postgresql(tmp_path_factory.mktemp("postgresql"), instance, uri)


def read(lakehouse: Lakehouse, layer: str, name: str) -> pl.DataFrame:
    return pl.read_delta(str(lakehouse.settings.tables_dir / layer / name))


def row_counts(lakehouse: Lakehouse) -> dict[str, int]:
    root = lakehouse.settings.tables_dir
    return {
        f"{layer}/{path.name}": read(lakehouse, layer, path.name).height
        for layer in LAYERS
        for path in sorted((root / layer).iterdir())
    }


def totals(lakehouse: Lakehouse) -> dict[str, object]:
    facts = read(lakehouse, "curated", "fact_order_items")
    return {
        "fact_order_items": facts.height,
        "net_revenue_usd": facts.get_column("net_usd").sum(),
        "net_revenue_usd_excl_cancelled": read(lakehouse, "curated", "mart_daily_sales")
        .get_column("net_usd")
        .sum(),
        "payments_amount_usd": read(lakehouse, "curated", "fact_payments").get_column("amount_usd").sum(),
    }


def manifest_totals(lakehouse: Lakehouse) -> dict[str, object]:
    return {
        name: value if isinstance(value, int) else Decimal(value)
        for name, value in lakehouse.manifest["totals"].items()
    }


def content(lakehouse: Lakehouse, name: str) -> pl.DataFrame:
    """A curated table without its bookkeeping columns (build times, watermarks), sorted."""
    return read(lakehouse, "curated", name).select(pl.exclude("^_.*$")).sort(pl.all())


def assert_same_lakehouse(sqlite: Lakehouse, postgresql: Lakehouse) -> None:
    assert sqlite.outcome.success and postgresql.outcome.success
    assert [c for c in postgresql.outcome.checks if not c.passed] == []
    assert postgresql.manifest == sqlite.manifest
    assert totals(postgresql) == totals(sqlite) == manifest_totals(postgresql)
    counts = row_counts(postgresql)
    assert counts == row_counts(sqlite)
    assert {t: counts[f"refined/{t}"] for t in shop_tables()} == {
        t: postgresql.manifest["clean_rows"][t] for t in shop_tables()
    }
    for table, key in (("customers", "customer_id"), ("products", "product_id")):
        deleted = [
            read(lh, "refined", table).filter(pl.col("deleted_at").is_not_null()).get_column(key).sort()
            for lh in (postgresql, sqlite)
        ]
        assert deleted[0].len() > 0 and deleted[0].equals(deleted[1]), table
    defects = pl.read_parquet(postgresql.settings.sources_dir / simulator.DEFECTS_FILE)
    quarantined = (
        defects.filter(pl.col("handling") == "quarantine").group_by("table").agg(pl.col("key").n_unique())
    )
    for table, keys in quarantined.iter_rows():
        held = read(postgresql, "quarantine", table)
        assert held.height == read(sqlite, "quarantine", table).height, table
        assert held.height >= keys, table  # a defect may quarantine several rows of one key
    for path in sorted((postgresql.settings.tables_dir / "curated").iterdir()):
        ours, theirs = (
            read(lh, "curated", path.name).select(pl.exclude("^_.*$")) for lh in (postgresql, sqlite)
        )
        assert ours.sort(pl.all()).equals(theirs.sort(pl.all())), path.name


def test_a_build_from_postgresql_equals_the_build_from_sqlite(builds):
    assert_same_lakehouse(*builds)


def multiset(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.sort(pl.all())


def changed_rows(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """The rows of `new` that `old` lacks, counting copies: what one more day adds to the source."""
    columns = new.columns
    counts = (
        new.group_by(columns)
        .len("new")
        .join(old.group_by(columns).len("old"), on=columns, how="left", nulls_equal=True)
    )
    added = counts.select(*columns, copies=pl.int_ranges(pl.col("new") - pl.col("old").fill_null(0)))
    return added.explode("copies").drop_nulls("copies").drop("copies")


def test_one_more_day_on_postgresql_appends_exactly_the_changed_rows(
    builds, incremental_builds: IncrementalBuilds, instance: dg.DagsterInstance
):
    _, postgresql = builds
    params = simulator.read_params(postgresql.settings.sources_dir)
    before = simulator.build_state(params).sources.tables
    after = simulator.build_state(replace(params, days=params.days + 1)).sources.tables
    raw_before = {t: read(postgresql, "raw", t) for t in shop_tables()}

    postgresql.advance(1)
    postgresql.build(instance)

    appended_rows = {}
    for table, source in shop_tables().items():
        columns = list(source.columns)
        raw = read(postgresql, "raw", table)
        appended = raw.join(raw_before[table].select("_batch_id").unique(), on="_batch_id", how="anti")
        expected = changed_rows(before[table].select(columns), after[table].select(columns))
        assert multiset(appended.select(columns)).equals(multiset(expected)), table
        appended_rows[table] = appended.height
    assert appended_rows["orders"] > 0 and appended_rows["order_items"] > 0, appended_rows
    # the same day more on SQLite (the cached month advanced a day and built, in the session)
    assert_same_lakehouse(incremental_builds.incremental, postgresql)
