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

# Added by some sources' ingestion, and by quarantine and refine.
WATERMARK = "_watermark"
HIGH_WATER_MARK = "_high_water_mark"
RESCUED_DATA = "_rescued_data"
RULES = "_rules"
QUARANTINED_AT = "_quarantined_at"
QUARANTINE_RUN_ID = "_quarantine_run_id"
REFINED_AT = "_refined_at"
CHANGES = "_changes"  # of an SCD2 version

INGESTION = (INGESTED_AT, SOURCE, BATCH_ID, RUN_ID, ROW_NUMBER)
IDENTITY = (BATCH_ID, ROW_NUMBER)
RAW_LINEAGE = (INGESTED_AT, BATCH_ID, ROW_NUMBER)

# What each bookkeeping column means, wherever it appears: the column schema of every table that
# holds one (a contract's own description, where it has one, comes first).
BOOKKEEPING = {
    INGESTED_AT: "When the row's batch was ingested into raw (UTC); refined and quarantined rows keep it.",
    SOURCE: "Where the row came from: the file in the landing zone, the database table or the API.",
    BATCH_ID: "The ingestion batch the row arrived in (a file, a watermark window): appended exactly once.",
    RUN_ID: "The Dagster run that ingested the row.",
    ROW_NUMBER: "The row's position in its batch (from 1): with _batch_id, it identifies the source record.",
    WATERMARK: "The source's updated_at when it counts towards the extraction watermark (else null).",
    HIGH_WATER_MARK: "The newest event time ingested up to this row's batch (late events arrive below it).",
    RESCUED_DATA: "The raw text of a line or field that could not be parsed (null when it parsed).",
    RULES: "The rules the row broke (`column:rule`): why it is quarantined.",
    QUARANTINED_AT: "When the file was quarantined (UTC).",
    QUARANTINE_RUN_ID: "The Dagster run that quarantined the file.",
    REFINED_AT: "When the row was last refined (UTC): the incremental watermark of what is built on it.",
    CHANGES: "The change events this version was built from (SCD2).",
}


def now_utc() -> datetime:
    return datetime.now(UTC)
