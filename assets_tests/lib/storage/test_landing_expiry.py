"""Landing files past their retention on the object store (moto's S3 server): a micro-batch raw
holds goes, one raw does not hold yet stays; a dry run deletes nothing."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from assets_tests.object_store import ObjectStore
from lakehouse.lib.storage import delta_tables, landing_expiry
from lakehouse.lib.storage.location import filesystem
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

HELD, PENDING = "clickstream/2025-01-01/batch-0000.jsonl", "clickstream/2025-01-01/batch-0001.jsonl"


def test_a_batch_raw_holds_goes_from_the_object_store_and_a_pending_one_stays(
    object_store: ObjectStore, tmp_path: Path
):
    landing = f"s3://{object_store.create_bucket()}/landing"
    store = filesystem(landing)
    for name in (HELD, PENDING):
        store.pipe_file(f"{landing.removeprefix('s3://')}/{name}", b'{"event_id": "e1"}\n')
    tables = str(tmp_path / "tables")
    raw = pl.DataFrame({"event_id": ["e1"], "_batch_id": [f"landing/{HELD}"]})
    delta_tables.write(f"{tables}/raw/events", raw, WriteSpec(WriteMode.APPEND), {})
    later = datetime.now(UTC) + timedelta(days=31)

    preview = landing_expiry.expire(landing, tables, 30, now=later, dry_run=True)
    applied = landing_expiry.expire(landing, tables, 30, now=later)

    assert [(r.folder, r.files, r.held) for r in preview] == [
        ("landing/clickstream", 1, {landing_expiry.NOT_IN_RAW: 1})
    ]
    assert [(r.files, r.held) for r in applied] == [(1, {landing_expiry.NOT_IN_RAW: 1})]
    left = store.find(landing.removeprefix("s3://"))
    assert [name.rsplit("/", 3)[-3:] for name in left] == [PENDING.split("/")]
