"""A whole lakehouse built on the object store (tables and landing zone on moto's S3 server) equals
the same simulation built in local folders, table by table on the business columns; the catalog
serves it through s3fs, sandboxed to the tables' prefix. Then the store goes down in the middle of
a step's write: the run fails naming the store, no table changed, and the run again completes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from assets_tests.conftest import Lakehouse, copy_of_build
from assets_tests.object_store import ObjectStore, free_port
from lakehouse import simulator
from lakehouse.definitions import build_definitions
from lakehouse.lib.partitions import range_tags
from lakehouse.lib.storage import location
from lakehouse.operations.runner import BuildOutcome, run_build
from lakehouse.serving.query import run_query
from lakehouse.serving.resource import ServingCatalog
from lakehouse.settings import Settings, get_settings

SMALL = {"scale": 0.002, "seed": 3, "days": 20}  # the build `lib/quality/test_blocking.py` copies too
# Bookkeeping columns (`_…`: where, when and by which run a row was written) differ by nature;
# these few say what a row is, and must be equal too.
KEPT_BOOKKEEPING = {"_rules", "_rescued_data", "_row_number"}


def business(uri: str) -> pl.DataFrame:
    frame = pl.read_delta(uri)
    if "file" in frame.columns:  # a file quarantined whole: by its name and rule (its folder, and
        # the reader's message about a corrupt file, differ between a local and a remote read)
        frame = frame.with_columns(pl.col("file").str.split("/").list.last()).drop("reason", strict=False)
    # a registered landing file's modification time is when it was written to each store
    frame = frame.drop("modified_ns", strict=False)
    columns = sorted(c for c in frame.columns if not c.startswith("_") or c in KEPT_BOOKKEEPING)
    return frame.select(columns).sort(columns, nulls_last=True)


@dataclass(frozen=True)
class RemoteBuild:
    local: Lakehouse  # the same simulation built in local folders
    settings: Settings  # the object store's
    tables: str  # LAKEHOUSE_TABLES_URI
    bucket: str
    outcome: BuildOutcome


@pytest.fixture(scope="module")
def remote_build(
    object_store: ObjectStore, tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance
) -> Iterator[RemoteBuild]:
    root = tmp_path_factory.mktemp("store")
    local = copy_of_build(root / "local", instance, **SMALL)
    bucket = object_store.create_bucket()
    tables, landing = f"s3://{bucket}/lakehouse/tables", f"s3://{bucket}/lakehouse/landing"
    settings = get_settings(root / "remote")
    simulator.generate(settings.sources_dir, **SMALL, landing_uri=landing)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LAKEHOUSE_TABLES_URI", tables)
        env.setenv("LAKEHOUSE_LANDING_DIR", landing)
        settings = get_settings(root / "remote")
        outcome = run_build(build_definitions(settings), instance, echo=lambda _: None)
        yield RemoteBuild(local, settings, tables, bucket, outcome)


def test_a_build_on_the_object_store_equals_the_local_build(remote_build: RemoteBuild):
    outcome, settings, tables, local = (
        remote_build.outcome,
        remote_build.settings,
        remote_build.tables,
        remote_build.local,
    )
    assert outcome.success and not [c for c in outcome.checks if not c.passed and not c.warned]
    assert not (settings.data_dir / "tables").exists()  # nothing written locally
    remote_tables = location.table_uris(tables)
    local_tables = location.table_uris(local.settings.tables_dir)
    assert remote_tables.keys() == local_tables.keys()
    for name, uri in remote_tables.items():
        if name in {"audit/log", "quality/metrics"}:
            continue  # when each write happened: differs by nature
        remote, local_rows = business(uri), business(local_tables[name])
        assert remote.columns == local_rows.columns, name
        differing = [c for c in remote.columns if not remote[c].equals(local_rows[c])]
        assert not differing, (name, differing)

    served = run_query(
        ServingCatalog.from_settings(settings), "select count(*) as n from curated.fact_order_items"
    )
    assert served.column("n").to_pylist() == [pl.read_delta(remote_tables["curated/fact_order_items"]).height]


def step_errors(instance: dg.DagsterInstance, run_id: str) -> str:
    """The run's step failures: each error with its causes, as the UI shows them."""
    lines = []
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
        error = record.event_log_entry.dagster_event.event_specific_data.error
        while error is not None:
            lines.append(error.message)
            error = error.cause
    return "\n".join(lines)


def test_an_outage_mid_write_names_the_store_changes_no_table_and_the_run_again_completes(
    remote_build: RemoteBuild, object_store: ObjectStore, instance: dg.DagsterInstance, monkeypatch
):
    fact_key = dg.AssetKey(["curated", "fact_order_items"])
    fact = f"{remote_build.tables}/curated/fact_order_items"
    last = pl.read_delta(fact).get_column("order_date").max()
    days = range_tags(last - timedelta(days=2), last)
    definitions, port = build_definitions(remote_build.settings), free_port()
    version = DeltaTable(fact).version()
    # the relay goes down at the fact step's first upload to its table: its inputs read, its data
    # files being written, its commit not yet made
    with object_store.relay(
        port, down_at=f"PUT /{remote_build.bucket}/lakehouse/tables/curated/fact_order_items/"
    ) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        failed = run_build(definitions, instance, echo=lambda _: None, selection=[fact_key], tags=days)
    errors = step_errors(instance, failed.run_id)
    with object_store.relay(port) as endpoint:  # the store answers again, at the same address
        assert not failed.success
        assert (
            f"the object store at {endpoint} (bucket '{remote_build.bucket}', from LAKEHOUSE_TABLES_URI="
            f"{remote_build.tables}) is unreachable"
        ) in errors
        assert (
            "check AWS_ENDPOINT_URL and that the service is running. It stopped answering while writing "
            "curated/fact_order_items; no table holds part of the step"
        ) in errors
        assert DeltaTable(fact).version() == version  # no commit, whole or partial
        again = run_build(definitions, instance, echo=lambda _: None, selection=[fact_key], tags=days)
        assert again.success
        assert business(fact).equals(
            business(str(remote_build.local.settings.tables_dir / "curated" / "fact_order_items"))
        )
