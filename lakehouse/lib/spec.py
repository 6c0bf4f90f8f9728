"""One spec per table, the single source of truth about it.

A `TableSpec` states a table's layer and name, description, contract, key (declared once), grain,
owners, tags, write policy, partitioning, freshness and retention. The foreign keys and the personal data come
from the contract (a field's `references` and `pii`). Everything else about the table derives from
the spec:

- the asset's decorator arguments (`asset_args`): key, group, description, kinds, owners, tags,
  code version, freshness, partitions, and the metadata (write spec, which names the direct PII
  columns, `dagster/column_schema` with PII column tags, grain, business keys);
- its checks (`checks`): the key unique and never null, each foreign key found in its table, and
  the column-schema change check;
- for a table built from validated data (curated), the asset itself (`asset`): its output is
  conformed to the contract and every rule must hold, judged before it is written and reported as
  the blocking check `contract`, returned with the materialisation;
- its column docs (`column_docs`), for the data dictionary and the catalog's comments.

The write policy is a layer default, so a table states only a difference: raw tables append,
refined tables merge on their key, curated tables replace by slice (the slices of `slice_by`
present in the output; the whole table when there is none).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, Literal

import dagster as dg
import polars as pl

from lakehouse.lib.code_version import code_version
from lakehouse.lib.freshness import describe_policy
from lakehouse.lib.pools import writer_pool
from lakehouse.lib.quality.checks import (
    TableCheck,
    checks_step,
    foreign_key_check,
    key_checks,
    schema_change_checks,
)
from lakehouse.lib.quality.contract import (
    DIRECT,
    INDIRECT,
    PII,
    Contract,
    conform,
    contract_pii,
    contract_references,
    keyed,
    table_schema,
)
from lakehouse.lib.quality.validation import enforce
from lakehouse.lib.storage import write_spec
from lakehouse.lib.storage.migrations import MIGRATIONS_KEY
from lakehouse.lib.storage.retention import DEFAULT as DEFAULT_RETENTION
from lakehouse.lib.storage.retention import RETENTION_KEY, Retention
from lakehouse.lib.storage.row_batches import Reread, RowBatches

Layer = Literal["raw", "refined", "curated"]
DEFAULT_OWNERS = ("team:data-platform",)
# The owners of an asset that names none, by its group (its layer); a user's questions about a table
# go to them. Quarantine is the data-quality side of refined, the catalog the serving side.
LAYER_OWNERS: Mapping[str, tuple[str, ...]] = dict.fromkeys(
    ("raw", "refined", "quarantine", "curated", "serving"), DEFAULT_OWNERS
)
# The groups whose tables users read and rely on being current: each has a freshness policy.
DEPENDED_ON = ("refined", "curated")
KINDS = {
    "raw": {"delta", "polars"},
    "refined": {"delta", "polars", "pandera"},
    "curated": {"delta", "polars", "pandera"},
}
CONTRACT_CHECK = "contract"


def with_layer_defaults(asset: dg.AssetSpec, freshness: dg.FreshnessPolicy) -> dg.AssetSpec:
    """`asset` with its layer's owners when it names none, and `freshness` when it is a table users
    depend on (`DEPENDED_ON`) and states no policy of its own."""
    owners = list(asset.owners) or list(LAYER_OWNERS.get(asset.group_name or "", DEFAULT_OWNERS))
    policy = asset.freshness_policy
    if policy is None and asset.group_name in DEPENDED_ON:
        policy = freshness
    mapped = asset.replace_attributes(owners=owners, freshness_policy=policy)
    if getattr(policy, "fail_window", None) is None:  # none, or not a time-window policy
        return mapped
    return mapped.merge_attributes(metadata={"freshness": describe_policy(policy)})


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    nullable: bool
    description: str
    pii: str = ""  # `direct`, `indirect`, or empty: no personal data


@dataclass(frozen=True)
class TableSpec:
    layer: Layer
    name: str
    description: str
    contract: type[Contract]
    key: tuple[str, ...]
    grain: str = ""
    owners: tuple[str, ...] = DEFAULT_OWNERS
    tags: Mapping[str, str] = field(default_factory=dict)
    write: Mapping[str, Any] | None = None  # a `write_spec` entry, when not the layer's default
    file_size: int | None = None  # bytes a data file holds at most (see `WriteSpec.file_size`)
    slice_by: str | None = None  # curated: the column whose slices a write replaces
    sequence: str | None = None  # refined: the column ordering a key's versions in the merge
    partitions: Mapping[str, Any] = field(default_factory=dict)  # e.g. `partitions.DAY_SLICED`
    freshness: dg.FreshnessPolicy | None = None
    # What each write must satisfy when it is not the table's rows (an scd2 dimension writes
    # change events); the table's contract, with the key unique, otherwise.
    writes: type[Contract] | None = None
    unstored: tuple[str, ...] = ()  # contract columns validated, then dropped (clear-text email)
    kinds: frozenset[str] = frozenset()  # beside the layer's (e.g. duckdb, for a table built in SQL)
    # Declared migrations of the stored table, applied by `lakehouse apply` (see `migrations`):
    # e.g. ({"rename": {"cust_id": "customer_id"}}, {"cast": {"quantity": "Int32"}}).
    migrations: tuple[Mapping[str, Mapping[str, str]], ...] = ()
    # How long its rows (by a date column) and its Delta history are kept (`retention`).
    retention: Retention = DEFAULT_RETENTION

    def __post_init__(self) -> None:
        if self.layer == "curated" and self.direct_pii:
            raise ValueError(
                f"{self.table_name}: a curated table holds no direct PII ({', '.join(self.direct_pii)}): "
                "keep a pseudonym (a keyed hash) or an id instead"
            )

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey([self.layer, self.name])

    @property
    def table_name(self) -> str:
        """The table as the catalog names it: `layer.table`."""
        return f"{self.layer}.{self.name}"

    @property
    def write_contract(self) -> type[Contract]:
        return self.writes or keyed(self.contract, self.key)

    @property
    def pii(self) -> dict[str, str]:
        """The stored columns holding personal data: column -> `direct` | `indirect` (contract)."""
        return {c: kind for c, kind in contract_pii(self.contract).items() if c not in self.unstored}

    @property
    def direct_pii(self) -> tuple[str, ...]:
        return tuple(c for c, kind in self.pii.items() if kind == DIRECT)

    @property
    def references(self) -> dict[str, tuple[dg.AssetKey, str]]:
        """The foreign keys: column -> (referenced table, its column), from the contract."""
        return contract_references(self.contract)

    def write_metadata(self) -> dict[str, Any]:
        """How the table is written: the spec's own policy, else its layer's default, with the
        table's direct PII columns and file size."""
        policy = write_spec.with_direct_pii(self._write_policy(), self.direct_pii)
        return write_spec.with_file_size(policy, self.file_size)

    def _write_policy(self) -> dict[str, Any]:
        if self.write is not None:
            return dict(self.write)
        if self.layer == "raw":
            return write_spec.append()
        if self.layer == "refined":
            return write_spec.merge(list(self.key), self.sequence)
        return write_spec.overwrite_partition(self.slice_by) if self.slice_by else write_spec.overwrite()

    def column_schema(self) -> dg.TableSchema:
        tags = {column: {PII: kind} for column, kind in self.pii.items()}
        return table_schema(self.contract, exclude=self.unstored, column_tags=tags)

    def asset_tags(self) -> dict[str, str]:
        """The layer, and `pii`: the strongest class of personal data the table stores."""
        kinds = set(self.pii.values())
        pii = DIRECT if DIRECT in kinds else INDIRECT if kinds else None
        return {"layer": self.layer, **({PII: pii} if pii else {}), **self.tags}

    def metadata(self) -> dict[str, Any]:
        """The asset's definition metadata (the IO manager writes by its write spec)."""
        written = self.writes or self.contract
        keys_written = set(self.key) <= set(written.to_schema().columns)
        return {
            **self.write_metadata(),
            "dagster/column_schema": self.column_schema(),
            **({"grain": self.grain} if self.grain else {}),
            **({"business_keys": list(self.key)} if keys_written else {}),
            **({"pii_columns": dict(self.pii)} if self.pii else {}),
            **({MIGRATIONS_KEY: [dict(m) for m in self.migrations]} if self.migrations else {}),
            RETENTION_KEY: self.retention.describe(),
        }

    def asset_args(self, version: str, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The arguments of the table's asset decorator, or of its `AssetOut` in a multi-asset;
        `metadata`: the asset's own entries beside the spec's (e.g. its column lineage)."""
        return {
            "key": self.asset_key,
            "group_name": self.layer,
            "description": self.description,
            "kinds": KINDS[self.layer] | self.kinds,
            "owners": list(self.owners),
            "tags": self.asset_tags(),
            "metadata": {**self.metadata(), **(metadata or {})},
            "code_version": version,
            **({"freshness_policy": self.freshness} if self.freshness else {}),
            **self.partitions,
        }

    def checks(self, asset: dg.AssetsDefinition | None = None) -> list[TableCheck]:
        """The table's key unique and never null, each foreign key found, and (given the asset) a
        warning when the columns of any table it writes change."""
        found = [
            foreign_key_check(self.asset_key, column, table, referenced)
            for column, (table, referenced) in self.references.items()
        ]
        changes = [] if asset is None else schema_change_checks(asset.keys)
        return [*key_checks(self.asset_key, self.key), *found, *changes]

    def check_step(self, asset: dg.AssetsDefinition, *more: TableCheck) -> dg.AssetChecksDefinition:
        """The table's checks (and `more`) in one step, named for `asset`, the step writing it."""
        return checks_step(asset.node_def.name, [*self.checks(asset), *more])

    def column_docs(self) -> list[ColumnDoc]:
        pii = self.pii
        return [
            ColumnDoc(name, str(column.dtype), column.nullable, column.description or "", pii.get(name, ""))
            for name, column in self.contract.to_schema().columns.items()
            if name not in self.unstored
        ]

    def contract_check(self) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            CONTRACT_CHECK,
            asset=self.asset_key,
            blocking=True,
            description="Every row written has the contract's columns and types and keeps all its rules.",
        )

    def asset(
        self,
        *,
        ins: Mapping[str, dg.AssetIn],
        deps: Sequence[dg.AssetKey] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
        """Decorate a transform into the table's asset, its output enforced by the contract.

        The transform returns the rows to write (a frame, an `Output` of one, or None for nothing
        to write); `deps`: tables it reads other than as inputs (SQL over the catalog's views).
        The asset conforms them to the contract and checks every rule before they are
        written: the result is the blocking check `contract`; a broken rule fails the asset, naming
        the table, rule and failing rows, so nothing is written. The code version hashes the
        transform's and the contracts' sources.
        """

        def decorate(transform: Callable[..., Any]) -> dg.AssetsDefinition:
            contracts = [c for c in (self.contract, self.writes) if c is not None]
            args = self.asset_args(code_version(transform, *contracts), metadata)
            pool = writer_pool(self.asset_key, self.partitions)
            checks = [self.contract_check()]
            return dg.asset(ins=dict(ins), deps=list(deps), check_specs=checks, pool=pool, **args)(
                self._enforcing(transform)
            )

        return decorate

    def _enforcing(self, transform: Callable[..., Any]) -> Callable[..., Iterator[Any]]:
        @functools.wraps(transform)
        def enforcing(*args: Any, **kwargs: Any) -> Iterator[Any]:
            out = transform(*args, **kwargs)
            output = out if isinstance(out, dg.Output) else dg.Output(out)
            yield from self.enforced(output)

        # The output's type is the contract's business, not the transform's annotation.
        enforcing.__annotations__ = {k: v for k, v in transform.__annotations__.items() if k != "return"}
        return enforcing

    def enforced(self, output: dg.Output) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """The output conformed to the contract and the `contract` check's result; a broken rule
        reports the failed check, then raises."""
        if output.value is None:  # nothing to write
            yield output
            yield dg.AssetCheckResult(check_name=CONTRACT_CHECK, passed=True, metadata={"rows_checked": 0})
            return
        rows = output.value
        if isinstance(rows, RowBatches):
            yield from self._enforced_batches(rows, output.metadata)
            return
        frame = rows.collect(engine="streaming") if isinstance(rows, pl.LazyFrame) else rows
        try:
            conformed = enforce(frame, self.write_contract, self.table_name)
        except ValueError as error:  # a ContractViolationError, or a column missing or mistyped
            failure = {"rows_checked": frame.height, "error": dg.MetadataValue.md(f"```\n{error}\n```")}
            yield dg.AssetCheckResult(check_name=CONTRACT_CHECK, passed=False, metadata=failure)
            raise
        yield dg.Output(conformed, metadata=output.metadata)
        yield dg.AssetCheckResult(
            check_name=CONTRACT_CHECK, passed=True, metadata={"rows_checked": conformed.height}
        )

    def _enforced_batches(
        self, rows: RowBatches, metadata: Mapping[str, Any]
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        """Row batches enforced one at a time, as the IO manager writes them; the check's result
        once all are written. A broken rule stops the write (nothing is committed) and fails the
        step with the rule's error; the check then has no result. Keys are checked unique within a
        batch: a day-sliced table's batches are whole days, whose keys no other day holds."""
        contract, table = self.write_contract, self.table_name
        schema = conform(pl.DataFrame(schema=rows.schema), contract, table).schema
        batches = Reread(lambda: (enforce(batch, contract, table) for batch in rows.batches))
        enforced = replace(rows, schema=schema, batches=batches)
        yield dg.Output(enforced, metadata=metadata)
        checked = {"rows_checked": enforced.written.rows}
        yield dg.AssetCheckResult(check_name=CONTRACT_CHECK, passed=True, metadata=checked)


def specs_in(package: ModuleType, layer: Layer) -> list[TableSpec]:
    """The specs of a layer's tables found at module level in a package's modules, by table name:
    found the way the defs-folder loader finds assets, so a new table module needs no list edited."""
    found = {}
    for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, TableSpec) and value.layer == layer:
                found[value.name] = value
    return [found[name] for name in sorted(found)]
