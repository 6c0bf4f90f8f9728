"""The bookkeeping columns the lakehouse adds to source data, defined once.

Every raw row carries where and when it arrived (`INGESTION`); `(_batch_id, _row_number)` identifies
it (`IDENTITY`), and refined rows keep the raw columns that point back to it (`RAW_LINEAGE`), so a
refined or quarantined row can always be traced to its source record.
"""

from datetime import UTC, datetime

INGESTED_AT = "_ingested_at"
SOURCE = "_source"
BATCH_ID = "_batch_id"
RUN_ID = "_run_id"
ROW_NUMBER = "_row_number"

INGESTION = (INGESTED_AT, SOURCE, BATCH_ID, RUN_ID, ROW_NUMBER)
IDENTITY = (BATCH_ID, ROW_NUMBER)
RAW_LINEAGE = (INGESTED_AT, BATCH_ID, ROW_NUMBER)


def now_utc() -> datetime:
    return datetime.now(UTC)
