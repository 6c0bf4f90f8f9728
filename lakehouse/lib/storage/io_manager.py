"""Our Delta IO manager: assets return Polars frames; it writes them by the asset's declared mode.

It does I/O only: it reads inputs (lazy `pl.scan_delta` scans pinned to the version the run reads,
see `reads`), writes outputs by the declared mode, records provenance in every commit (run, asset,
partition, code version and the versions of every table the step read) and describes the table in
the materialisation. What else follows a commit (quality metrics, the audit log) is its observer's.

Between reading and writing it remembers only the pins of the step's Dagster inputs (finding them
again cost a read of each input's log per write); an input it did not load is pinned again by the
same rule, and the step's other reads are its observations in the run's event log.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl
from deltalake import DeltaTable
from pydantic import PrivateAttr

from lakehouse.lib.storage import delta_tables, location
from lakehouse.lib.storage.commits import Commit, CommitObserver
from lakehouse.lib.storage.delta_tables import SliceConflictError, WriteResult
from lakehouse.lib.storage.reads import PinnedTable, RunSnapshot, run_snapshot, step_record, table_name
from lakehouse.lib.storage.row_batches import RowBatches
from lakehouse.lib.storage.snapshots import one_read
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE, materialization_metadata
from lakehouse.lib.storage.write_spec import REPLACED_SLICES, WriteMode, WriteSpec, plain

# A day-sliced step whose days another run replaced meanwhile runs again (reading the new version).
SLICE_CONFLICT_RETRIES = 3


def _declared_schema(context: dg.OutputContext) -> dg.TableSchema | None:
    """The column schema the asset's definition declares (from its contract), if any."""
    declared = context.definition_metadata.get("dagster/column_schema")
    return getattr(declared, "schema", declared)  # a TableSchemaMetadataValue once defined


class DeltaIOManager(dg.ConfigurableIOManager):
    store: DeltaStore
    observer: CommitObserver | None = None

    # The run it serves, as Dagster sets it up for one: the instance recording the run, and what
    # the run reads (None outside a run: then the newest versions).
    _instance: dg.DagsterInstance | None = PrivateAttr(default=None)
    _snapshot: RunSnapshot | None = PrivateAttr(default=None)
    # The inputs each step (by its op's name) loaded, as pinned, for the provenance of its writes.
    _loaded: dict[tuple[str, dg.AssetKey], PinnedTable] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._instance = context.instance
        self._snapshot = run_snapshot(context.instance, context.run.run_id) if context.run else None
        self._loaded = {}

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        reading = f"reading {table_name(context.asset_key)}"
        # one_read: the scan is of the snapshot the pin opened (when it pinned the newest version)
        with location.outage_explained(self.store.root, reading), one_read():
            table = self.store.pin(context.asset_key, self._snapshot)
            rows = table.scan_or_none()
        self._loaded[(context.op_def.name, context.asset_key)] = table
        if rows is None:
            raise FileNotFoundError(
                f"input table {table.name} does not exist yet at {table.uri}: materialise it first"
            )
        return rows

    def handle_output(
        self, context: dg.OutputContext, obj: pl.LazyFrame | pl.DataFrame | RowBatches | None
    ) -> None:
        with location.outage_explained(self.store.root, f"writing {table_name(context.asset_key)}"):
            self._write(context, obj)

    def _write(self, context: dg.OutputContext, obj: pl.LazyFrame | pl.DataFrame | RowBatches | None) -> None:
        """Write `obj` to the asset's table by its write mode; report what the commit did."""
        uri = self.store.uri(context.asset_key)
        if obj is None:  # nothing to write: the metadata still describes the table as it is
            if delta_tables.exists(uri):
                self._describe(context, uri, WriteResult(delta_tables.version(uri), 0), changed=False)
            return
        spec = WriteSpec.from_metadata(context.definition_metadata)
        before = delta_tables.version(uri)
        slices = context.output_metadata.get(REPLACED_SLICES)
        slices = None if slices is None else list(plain(slices))
        step = step_record(self._instance, context.run_id, context.step_key)
        provenance = self._provenance(context, self._input_versions(context) | step.reads)
        output_metadata: dict[str, Any] = dict(context.output_metadata)
        own = step.reads.get(table_name(context.asset_key))  # the version the step computed from
        if isinstance(obj, RowBatches):
            try:
                result, written = _write_batches(uri, obj, spec, provenance, slices, own)
            except SliceConflictError as conflict:
                raise dg.RetryRequested(max_retries=SLICE_CONFLICT_RETRIES, seconds_to_wait=1) from conflict
            reported = dict(obj.report())
            context.add_output_metadata(reported)
            output_metadata |= reported
        else:
            written = obj.collect(engine="streaming") if isinstance(obj, pl.LazyFrame) else obj
            try:
                result = delta_tables.write(uri, written, spec, provenance, slices, own)
            except SliceConflictError as conflict:  # another run replaced the same days meanwhile
                raise dg.RetryRequested(max_retries=SLICE_CONFLICT_RETRIES, seconds_to_wait=1) from conflict
        actions = self._describe(context, uri, result, changed=result.version != before)
        if result.version != before:
            _record_partitions(context, spec, written, slices)
        if result.version != before and self.observer is not None:
            self.observer.committed(
                Commit(
                    table=context.asset_key.to_user_string(),
                    run_id=context.run_id,
                    spec=spec,
                    result=result,
                    written=written,
                    actions=actions,
                    definition_metadata=context.definition_metadata,
                    output_metadata=output_metadata,
                    step_started_at=step.started_at,
                    written_nulls=obj.written.nulls if isinstance(obj, RowBatches) else None,
                )
            )

    def _input_versions(self, context: dg.OutputContext) -> dict[str, int]:
        """The versions of the asset's Dagster inputs: as `load_input` pinned them, or pinned by
        the same rule (a dependency the step did not load)."""
        pinned = (self._pinned(context.op_def.name, dep.asset_key) for dep in context.asset_spec.deps)
        return {table.name: table.version for table in pinned if table.exists}

    def _pinned(self, op: str, key: dg.AssetKey) -> PinnedTable:
        loaded = self._loaded.get((op, key))
        return self.store.pin(key, self._snapshot) if loaded is None else loaded

    @staticmethod
    def _provenance(context: dg.OutputContext, inputs: dict[str, int]) -> dict[str, Any]:
        return {
            "dagster.run_id": context.run_id,
            "dagster.asset_key": context.asset_key.to_user_string(),
            "dagster.partition_key": context.partition_key if context.has_partition_key else "",
            "dagster.code_version": context.asset_spec.code_version or "",
            delta_tables.INPUT_VERSIONS_COMMIT_KEY: dict(sorted(inputs.items())),
        }

    @staticmethod
    def _describe(context: dg.OutputContext, uri: str, result: WriteResult, changed: bool) -> pl.DataFrame:
        """Add the table's metadata, as `result` left it, to the materialisation; its add actions.

        `table_changed` says whether the run committed to the table, plainly among the metadata the
        UI shows (the data version, among the event's tags, says whether its content changed). The
        log is read once, for this metadata and for the commit's observer.
        """
        table = DeltaTable(uri)
        actions = delta_tables.actions_of(table)
        table_name = ".".join(context.asset_key.path)
        declared = _declared_schema(context)
        metadata = materialization_metadata(uri, table, table_name, result, actions, declared)
        context.add_output_metadata(metadata)
        context.add_output_metadata({"table_changed": changed})
        if (lineage := context.definition_metadata.get(COLUMN_LINEAGE)) is not None:
            context.add_output_metadata({COLUMN_LINEAGE: lineage})
        return actions


def _write_batches(
    uri: str,
    rows: RowBatches,
    spec: WriteSpec,
    provenance: dict[str, Any],
    slices: list[Any] | None,
    read_version: int | None,
) -> tuple[WriteResult, pl.DataFrame | pl.LazyFrame]:
    """Write row batches by the spec's mode (append, merge or slice replace); the result and the
    rows written, lazily: a merge's from where its rows were staged, a slice replace's and an
    append's read back from the table (by their slices, by their batch ids)."""
    if spec.mode is WriteMode.MERGE:
        if rows.rows is None:
            raise ValueError(f"a merge of row batches into {uri} needs the rows again (RowBatches.rows)")
        return delta_tables.merge_batches(uri, rows, spec, provenance), rows.rows
    if spec.mode is WriteMode.OVERWRITE_PARTITION:
        if slices is None and delta_tables.exists(uri):  # the slices only the rows tell: hold them
            data = rows.collect()
            return delta_tables.write(uri, data, spec, provenance, None, read_version), data
        result = delta_tables.replace_batches(uri, rows, spec, provenance, slices, read_version)
        table = delta_tables.scan(uri, result.version)
        if slices is None:  # a new table: all of it
            return result, table
        replaced = pl.col(spec.partition_column).cast(pl.String).is_in([str(s) for s in slices])
        return result, table.filter(replaced)
    result = delta_tables.append_batches(uri, rows, spec, provenance)
    new_batches = [b for b in rows.source_batches if b not in result.skipped_batches]
    return result, delta_tables.scan(uri, result.version).filter(pl.col(spec.batch_column).is_in(new_batches))


def _record_partitions(
    context: dg.OutputContext,
    spec: WriteSpec,
    written: pl.DataFrame | pl.LazyFrame,
    slices: list[Any] | None,
) -> None:
    """In a run without a partition, record the slices a day-sliced, partitioned asset replaced as
    materialisations of their partitions, so Dagster's partition status shows what the table holds
    (a partitioned run's partitions Dagster records itself). They carry no metadata: a year of days
    is 365 events, and the table's own materialisation that follows them describes the table.

    Days past the partitions' last one are recorded too: the partitions end where the data ended
    when the code location loaded, and new data does not reload it (see `partitions`). Dagster keeps
    them, and shows them materialised once the location is reloaded and its partitions reach them."""
    partitions = context.asset_spec.partitions_def
    if partitions is None or context.has_asset_partitions or spec.partition_column is None:
        return
    if slices is None:
        values = written.lazy().select(pl.col(spec.partition_column).unique()).collect()
        slices = values.get_column(spec.partition_column).to_list()
    first = partitions.get_first_partition_key()
    keys = {str(s) for s in slices if first is not None and str(s) >= first}  # ISO days sort as text
    for key in sorted(keys):
        context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=key))
