"""Quality metrics: what the rows written and the asset's own report say, as (metric, column) pairs."""

from __future__ import annotations

import dagster as dg
import polars as pl

from lakehouse.lib.quality.metrics import data_metrics, reported_metrics


def test_data_metrics_are_null_rates_distinct_keys_and_monitored_medians_of_the_rows_written():
    written = pl.DataFrame(
        {"id": [1, 1, 2, 3], "line": [1, 2, 1, 1], "price": [1.0, None, 3.0, 10.0], "note": [None] * 4},
        schema_overrides={"note": pl.String},
    )

    metrics = data_metrics(written, keys=["id"], monitored=["price"])

    assert metrics == {
        ("null_rate", "id"): 0.0,
        ("null_rate", "line"): 0.0,
        ("null_rate", "price"): 0.25,
        ("null_rate", "note"): 1.0,
        ("distinct_keys", ""): 3,
        ("median", "price"): 3.0,
    }


def test_nothing_written_has_no_data_metrics():
    assert data_metrics(pl.DataFrame({"id": []}), keys=["id"], monitored=[]) == {}


def test_reported_numbers_and_dicts_of_numbers_become_metrics_and_the_rest_is_ignored():
    reported = {
        "raw_rows_processed": dg.MetadataValue.int(120),
        "rule_failures": dg.MetadataValue.json({"email:valid_email": 3, "note": "text"}),
        "days_rebuilt": "all",
        "replaced_slices": ["2025-01-01"],
        "flag": True,
    }

    assert reported_metrics(reported) == {
        ("raw_rows_processed", ""): 120,
        ("rule_failures", "email:valid_email"): 3,
    }
