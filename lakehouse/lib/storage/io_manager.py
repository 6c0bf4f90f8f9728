"""Our Delta IO manager: assets return Polars frames; it writes them by the asset's declared mode.

Inputs are lazy `pl.scan_delta` scans pinned to the version read, and every commit records the
run, asset, partition, code version and those input versions, so "what produced version N, from
what" is one lookup in the table's history.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import dagster as dg
import polars as pl
from pydantic import PrivateAttr

from lakehouse.lib.quality import metrics
from lakehouse.lib.quality.contract import CONTRACT_KEY, contract_named
from lakehouse.lib.quality.validation import enforce
from lakehouse.lib.storage import audit, delta_tables
from lakehouse.lib.storage.delta_tables import WriteResult
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE, materialization_metadata
from lakehouse.lib.storage.write_spec import REPLACED_SLICES, WriteSpec


def _plain(entry: Any) -> Any:
    """A metadata entry's plain value (definition metadata arrives wrapped as MetadataValues)."""
    return getattr(entry, "value", entry)


def _declared_schema(context: dg.OutputContext) -> dg.TableSchema | None:
    """The column schema the asset's definition declares (from its contract), if any."""
    declared = context.definition_metadata.get("dagster/column_schema")
    return getattr(declared, "schema", declared)  # a TableSchemaMetadataValue once defined


def _step_seconds(context: dg.OutputContext) -> float:
    """Seconds since the step started, from the run's event log (the step's duration so far)."""
    records = context.step_context.instance.get_records_for_run(
        context.run_id, of_type=dg.DagsterEventType.STEP_START
    ).records
    starts = [r.timestamp for r in records if r.event_log_entry.step_key == context.step_key]
    return time.time() - max(starts) if starts else 0.0


class DeltaIOManager(dg.ConfigurableIOManager):
    store: DeltaStore

    # (run id, step key) -> {input table: version read}; load and store of one step share a process.
    _inputs_read: dict[tuple[str, str], dict[str, int]] = PrivateAttr(default_factory=dict)

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        key = context.asset_key
        uri = self.store.uri(key)
        at = delta_tables.version(uri)
        if at is None:
            raise FileNotFoundError(
                f"input table {key.to_user_string()} does not exist yet at {uri}: materialise it first"
            )
        step = (context.step_context.run_id, context.step_context.step.key)
        self._inputs_read.setdefault(step, {})[key.to_user_string()] = at
        return delta_tables.scan(uri, at_version=at)

    def handle_output(self, context: dg.OutputContext, obj: pl.LazyFrame | pl.DataFrame | None) -> None:
        uri = self.store.uri(context.asset_key)
        if obj is None:  # nothing to write: the metadata still describes the table as it is
            if delta_tables.exists(uri):
                self._describe(context, uri, WriteResult(delta_tables.version(uri), 0))
            return
        frame = obj.collect(engine="streaming") if isinstance(obj, pl.LazyFrame) else obj
        table_name = ".".join(context.asset_key.path)
        contract = context.definition_metadata.get(CONTRACT_KEY)
        if contract is not None:
            frame = enforce(frame, contract_named(_plain(contract)), table_name)
        spec = WriteSpec.from_metadata(context.definition_metadata)
        before = delta_tables.version(uri)
        slices = context.output_metadata.get(REPLACED_SLICES)
        slices = None if slices is None else list(_plain(slices))
        result = delta_tables.write(uri, frame, spec, self._commit_metadata(context), slices)
        actions = self._describe(context, uri, result)
        if result.version != before:
            metrics.record(
                self.store.root,
                table=context.asset_key.to_user_string(),
                run_id=context.run_id,
                version=result.version,
                metrics=self._metrics(context, frame, actions, result),
            )
            audit.record(
                self.store.root,
                operation="write",
                table=context.asset_key.to_user_string(),
                version=result.version,
                run_id=context.run_id,
                details={"mode": spec.mode.value, **asdict(result)},
            )

    @staticmethod
    def _describe(context: dg.OutputContext, uri: str, result: WriteResult) -> pl.DataFrame:
        """Add the table's metadata, as `result` left it, to the materialisation; its add actions.

        The log is read once, for this metadata and for the quality metrics.
        """
        actions = delta_tables.add_actions(uri)
        table_name = ".".join(context.asset_key.path)
        declared = _declared_schema(context)
        context.add_output_metadata(materialization_metadata(uri, table_name, result, actions, declared))
        if (lineage := context.definition_metadata.get(COLUMN_LINEAGE)) is not None:
            context.add_output_metadata({COLUMN_LINEAGE: lineage})
        return actions

    @staticmethod
    def _metrics(
        context: dg.OutputContext, frame: pl.DataFrame, actions: pl.DataFrame, result: WriteResult
    ) -> metrics.Metrics:
        definition = context.definition_metadata
        keys = _plain(definition.get("business_keys")) or []
        monitored = _plain(definition.get(metrics.MONITORED_COLUMNS)) or []
        return {
            **metrics.write_metrics(actions, result),
            **metrics.data_metrics(frame, keys, monitored),
            **metrics.reported_metrics(context.output_metadata),
            ("duration_seconds", ""): _step_seconds(context),
        }

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._inputs_read.clear()

    def _commit_metadata(self, context: dg.OutputContext) -> dict[str, Any]:
        inputs = self._inputs_read.get((context.run_id, context.step_key), {})
        return {
            "dagster.run_id": context.run_id,
            "dagster.asset_key": context.asset_key.to_user_string(),
            "dagster.partition_key": context.partition_key if context.has_partition_key else "",
            "dagster.code_version": context.asset_spec.code_version or "",
            "dagster.input_versions": inputs,
        }
