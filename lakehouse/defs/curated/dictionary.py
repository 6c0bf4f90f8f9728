"""The curated tables' documentation, from their contracts: for the catalog's comments and the
Markdown data dictionary (`lakehouse dictionary` writes `DATA_DICTIONARY.md` next to this module).

Each table is described by the docstring of the contract describing it, each column by its field's
description; bookkeeping columns (`_…`) are documented too, as the contract declares them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

from lakehouse.defs.curated.assets import curated_assets, table_contract
from lakehouse.lib.quality.contract import Contract, contract_keys
from lakehouse.lib.storage.scd2 import CHANGES
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

DICTIONARY_PATH = Path(__file__).with_name("DATA_DICTIONARY.md")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class TableDoc:
    name: str  # layer.table, as the catalog names it
    description: str
    key: list[str]
    grain: str
    written_by: str
    columns: list[Column]


def _description(contract: type[Contract]) -> str:
    return " ".join(inspect.cleandoc(contract.__doc__ or "").split())


# The column the scd2 write adds to every version, beside those its contract declares.
SCD2_CHANGES = Column(CHANGES, "List(Struct)", False, "The change events this version was built from (SCD2).")


def _columns(contract: type[Contract], mode: WriteMode) -> list[Column]:
    declared = [
        Column(name, str(column.dtype), column.nullable, column.description or "")
        for name, column in contract.to_schema().columns.items()
    ]
    return [*declared, SCD2_CHANGES] if mode is WriteMode.SCD2 else declared


def curated_docs() -> dict[str, TableDoc]:
    """Every curated table's documentation, by `layer.table`."""
    docs = {}
    for asset in curated_assets:
        metadata = asset.metadata_by_key[asset.key]
        contract = table_contract(asset)
        mode = WriteSpec.from_metadata(metadata).mode
        name = ".".join(asset.key.path)
        docs[name] = TableDoc(
            name=name,
            description=_description(contract),
            key=contract_keys(contract),
            grain=str(getattr(metadata.get("grain"), "value", metadata.get("grain"))),
            written_by=mode.value,
            columns=_columns(contract, mode),
        )
    return docs


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table_section(doc: TableDoc) -> str:
    rows = "\n".join(
        f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {_cell(c.description)} |"
        for c in doc.columns
    )
    return (
        f"## `{doc.name}`\n\n{doc.description}\n\n"
        f"Grain: {doc.grain}. Key: {', '.join(f'`{k}`' for k in doc.key)}. Written by: {doc.written_by}.\n\n"
        f"| column | type | nullable | description |\n| --- | --- | --- | --- |\n{rows}\n"
    )


def render_dictionary() -> str:
    """The Markdown data dictionary of the curated tables."""
    docs = curated_docs().values()
    index = "\n".join(f"- [`{d.name}`](#{d.name.replace('.', '')})" for d in docs)
    header = (
        "# Data dictionary: the curated layer\n\n"
        "Generated from the table contracts (`lakehouse/defs/curated/contracts.py`) by "
        "`lakehouse dictionary`; do not edit by hand. The same descriptions are the comments of the "
        "DuckDB catalog's views (`lakehouse tables --describe`). Columns starting with `_` are "
        "bookkeeping for incremental builds.\n\n"
    )
    return header + index + "\n\n" + "\n".join(_table_section(d) for d in docs)


def write_dictionary(path: Path | None = None) -> Path:
    """Write the dictionary (by default to DATA_DICTIONARY.md in this package); its path."""
    path = path or DICTIONARY_PATH
    path.write_text(render_dictionary())
    return path
