"""Quality metrics: what the rows written and the asset's own report say, as (metric, column) pairs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse.lib.quality.metrics import (
    MONITORED_COLUMNS,
    QualityRecorder,
    data_metrics,
    history,
    keyed_metadata,
    record,
    reported_metrics,
)
from lakehouse.lib.storage import delta_tables
from lakehouse.lib.storage.commits import Commit
from lakehouse.lib.storage.row_batches import Tally
from lakehouse.lib.storage.snapshots import Snapshots
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec
from lakehouse.settings import Settings

BUCKET_ROWS = Settings.key_bucket_rows


@pytest.mark.parametrize(("key_bucket_rows", "rows_written"), [(BUCKET_ROWS, None), (BUCKET_ROWS, 4), (1, 4)])
def test_data_metrics_are_null_rates_distinct_keys_and_monitored_medians_of_the_rows_written(
    key_bucket_rows: int, rows_written: int | None, tmp_path: Path
):
    """The same when distinct keys are counted with the rest (the commit's rows fit one bucket), in
    a second pass, or one row's keys at a time (`key_buckets`)."""
    written = pl.DataFrame(
        {"id": [1, 1, 2, 3], "line": [1, 2, 1, 1], "price": [1.0, None, 3.0, 10.0], "note": [None] * 4},
        schema_overrides={"note": pl.String},
    )

    metrics = data_metrics(
        written,
        keys=["id"],
        monitored=["price"],
        scratch=tmp_path,
        key_bucket_rows=key_bucket_rows,
        rows_written=rows_written,
    )

    assert metrics == {
        ("null_rate", "id"): 0.0,
        ("null_rate", "line"): 0.0,
        ("null_rate", "price"): 0.25,
        ("null_rate", "note"): 1.0,
        ("distinct_keys", ""): 3,
        ("median", "price"): 3.0,
    }


def test_nothing_written_has_no_data_metrics(tmp_path):
    assert data_metrics(pl.DataFrame({"id": []}), keys=["id"], monitored=[], scratch=tmp_path) == {}


def test_reported_numbers_and_dicts_of_numbers_become_metrics_and_the_rest_is_ignored():
    reported = {
        "raw_rows_processed": dg.MetadataValue.int(120),
        "rule_failures": dg.MetadataValue.json({"email:valid_email": 3, "note": "text"}),
        **keyed_metadata("rule_pass_rate", {"email:valid_email": 0.97}),
        "dagster/row_count": 500,
        "days_rebuilt": "all",
        "replaced_slices": ["2025-01-01"],
        "flag": True,
    }

    assert reported_metrics(reported) == {
        ("raw_rows_processed", ""): 120,
        ("rule_failures", "email:valid_email"): 3,
        ("rule_pass_rate", "email:valid_email"): 0.97,
        ("dagster/row_count", ""): 500,
    }


def test_the_commit_observer_records_every_metric_of_a_commit_and_its_audit_entry(tmp_path):
    store = DeltaStore(root=str(tmp_path))
    uri = store.uri(["refined", "items"])
    spec = WriteSpec(WriteMode.MERGE, keys=("id",))
    written = pl.DataFrame({"id": [1, 2, 2], "price": [2.0, None, 4.0]})
    result = delta_tables.write(uri, written, spec, {})
    commit = Commit(
        table="refined/items",
        run_id="run-1",
        spec=spec,
        result=result,
        written=written,
        actions=delta_tables.add_actions(uri),
        definition_metadata={"business_keys": dg.MetadataValue.json(["id"]), MONITORED_COLUMNS: ["price"]},
        output_metadata={"raw_rows_processed": dg.MetadataValue.int(4)},
        step_started_at=time.time() - 30,
    )

    QualityRecorder(store=store).committed(commit)

    recorded = pl.read_delta(str(tmp_path / "quality" / "metrics"))
    assert set(recorded.get_column("run_id")) == {"run-1"}
    values = {(m, c): value for m, c, value in recorded.select("metric", "column", "value").rows()}
    duration = values.pop(("duration_seconds", ""))
    assert 30 <= duration < 60
    assert values == {
        ("rows", ""): 3,
        ("rows_written", ""): 3,
        ("rows_inserted", ""): 3,
        ("rows_updated", ""): 0,
        ("rows_deleted", ""): 0,
        ("null_rate", "id"): 0.0,
        ("null_rate", "price"): 1 / 3,
        ("distinct_keys", ""): 2,
        ("median", "price"): 3.0,
        ("raw_rows_processed", ""): 4,
    }
    log = pl.read_delta(str(tmp_path / "audit" / "log"))
    entry = ("write", "refined/items", 0, "run-1")
    assert log.select("operation", "table_name", "version", "run_id").rows() == [entry]
    assert json.loads(log.item(0, "details"))["mode"] == "merge"


def test_null_rates_tallied_while_streaming_equal_those_read_back(tmp_path):
    """A streamed write counts nulls batch by batch; reading the rows back is then only for keys."""
    rows = pl.DataFrame({"id": [1, 2, 2, None], "note": [None, "a", None, None]})
    tally = Tally()
    for batch in rows.iter_slices(3):
        tally.add(batch)

    streamed = data_metrics(rows.lazy(), ["id"], [], tmp_path, tally.nulls)

    assert streamed == data_metrics(rows, ["id"], [], tmp_path)
    assert streamed == {("null_rate", "id"): 0.25, ("null_rate", "note"): 0.75, ("distinct_keys", ""): 3}


def test_a_steps_anomaly_checks_of_a_table_read_its_history_once_and_as_first_read(tmp_path, monkeypatch):
    """Within a step of checks (`Snapshots.kept()`) the log is read once for a table's metrics, and
    a metric recorded meanwhile is judged by the next step; outside, each read is afresh."""
    root = str(tmp_path)
    rows = {("rows_written", ""): 4.0, ("null_rate", "a"): 0.5, ("null_rate", "b"): 0.0}
    record(root, table="raw/t", run_id="r1", version=0, metrics=rows)
    reads = []
    scan_newest = delta_tables.scan_newest
    monkeypatch.setattr(delta_tables, "scan_newest", lambda uri: reads.append(uri) or scan_newest(uri))

    with Snapshots().kept():
        volume = history(root, "raw/t", "rows_written")
        record(root, table="raw/t", run_id="r2", version=1, metrics=rows)  # another run meanwhile
        rates = history(root, "raw/t", "null_rate", None)
    assert len(reads) == 1
    assert volume.select("run_id", "column", "value").rows() == [("r1", "", 4.0)]
    assert rates.select("run_id", "column", "value").rows() == [("r1", "a", 0.5), ("r1", "b", 0.0)]

    assert history(root, "raw/t", "rows_written").get_column("run_id").to_list() == ["r1", "r2"]
    assert len(reads) == 2
