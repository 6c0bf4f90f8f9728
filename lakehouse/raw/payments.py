"""Raw payments: daily settlement CSV files from the landing zone, each ingested exactly once."""

from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.orchestration.freshness import DAILY
from lakehouse.raw.ingestion import (
    RAW,
    now_utc,
    permanent_errors_fail_at_once,
    reported_problems,
    with_ingestion_columns,
)
from lakehouse.sources.landing import LandingZone, empty_rows, read_csv_file
from lakehouse.storage import write_spec
from lakehouse.storage.store import DeltaStore

PAYMENT_COLUMNS = ("payment_id", "order_id", "amount", "currency", "method", "settled_at")
PAYMENTS_FOLDER = "payments"
PAYMENTS_PATTERN = "settlement_*.csv"
RAW_PAYMENTS = dg.AssetKey(["raw", "payments"])


def file_batch_id(path: Path) -> str:
    return f"landing/{PAYMENTS_FOLDER}/{path.name}"


def pending_files(landing: LandingZone, store: DeltaStore) -> list[Path]:
    """Settlement files in the landing folder not yet committed to raw."""
    files = landing.list_files(PAYMENTS_FOLDER, PAYMENTS_PATTERN)
    done = store.committed_batches(RAW_PAYMENTS, [file_batch_id(f) for f in files])
    return [f for f in files if file_batch_id(f) not in done]


@dg.asset(
    key=RAW_PAYMENTS,
    **RAW,
    freshness_policy=DAILY,
    kinds={"delta", "polars", "csv"},
    description="Payment settlement files (CSV) as they arrived; malformed lines kept in `_rescued_data`.",
    metadata={**write_spec.append(), "source": f"landing/{PAYMENTS_FOLDER}/{PAYMENTS_PATTERN}"},
)
def raw_payments(
    context: dg.AssetExecutionContext, landing: LandingZone, store: DeltaStore
) -> dg.Output[pl.DataFrame]:
    with permanent_errors_fail_at_once():
        files = pending_files(landing, store)
    ingested_at = now_utc()
    batches, problems, malformed = [], [], 0
    for path in files:
        parsed = read_csv_file(path, PAYMENT_COLUMNS)
        problems += parsed.problems
        malformed += parsed.malformed_lines
        batches.append(
            with_ingestion_columns(
                parsed.rows,
                source=str(path),
                batch_id=file_batch_id(path),
                run_id=context.run.run_id,
                ingested_at=ingested_at,
            )
        )
    rows = pl.concat(batches, how="diagonal_relaxed") if batches else _empty_batch()
    context.log.info(f"{len(files)} new settlement files, {rows.height} lines")
    return dg.Output(
        rows,
        metadata={
            "files_ingested": len(files),
            "malformed_lines": malformed,
            "problems": reported_problems(context, problems),
        },
    )


def _empty_batch() -> pl.DataFrame:
    return with_ingestion_columns(
        empty_rows(PAYMENT_COLUMNS), source="", batch_id="", run_id="", ingested_at=now_utc()
    )
