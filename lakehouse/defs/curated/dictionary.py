"""The curated tables' documentation, from their specs: for the catalog's comments and the
Markdown data dictionary (`lakehouse dictionary` writes `DATA_DICTIONARY.md` next to this module).

Each table is described by its spec's description, each column by its contract field's
description; bookkeeping columns (`_…`) are documented too, as the contract declares them. The
dictionary also draws each table's column lineage down to raw as a Mermaid diagram (GitHub and most
Markdown viewers render it): the lineage is passed in, since the assets that declare it (a mart
defined in SQL, say) live in layers above this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import lakehouse.defs.curated
from lakehouse.lib.column_lineage import ColumnLineage, mermaid
from lakehouse.lib.columns import BOOKKEEPING, CHANGES
from lakehouse.lib.spec import ColumnDoc, TableSpec, specs_in
from lakehouse.lib.storage.write_spec import WriteMode, WriteSpec

DICTIONARY_PATH = Path(__file__).with_name("DATA_DICTIONARY.md")


@dataclass(frozen=True)
class TableDoc:
    name: str  # layer.table, as the catalog names it
    description: str
    key: list[str]
    grain: str
    written_by: str
    columns: list[ColumnDoc]
    foreign_keys: list[str] = field(default_factory=list)  # "column -> layer.table.column"
    owners: list[str] = field(default_factory=list)
    retention: str = ""  # how long its rows and history are kept (`Retention.describe`)


# The column the scd2 write adds to every version, beside those its contract declares.
SCD2_CHANGES = ColumnDoc(CHANGES, "List(Struct)", False, BOOKKEEPING[CHANGES])


def curated_specs() -> list[TableSpec]:
    """Every curated table's spec, by name."""
    return specs_in(lakehouse.defs.curated, "curated")


def table_doc(spec: TableSpec) -> TableDoc:
    mode = WriteSpec.from_metadata(spec.write_metadata()).mode
    columns = spec.column_docs()
    return TableDoc(
        name=spec.table_name,
        description=" ".join(spec.description.split()),
        key=list(spec.key),
        grain=spec.grain,
        written_by=mode.value,
        columns=[*columns, SCD2_CHANGES] if mode is WriteMode.SCD2 else columns,
        foreign_keys=[
            f"{column} -> {'.'.join(table.path)}.{referenced}"
            for column, (table, referenced) in spec.references.items()
        ],
        owners=list(spec.owners),
        retention=spec.retention.describe(),
    )


def curated_docs() -> dict[str, TableDoc]:
    """Every curated table's documentation, by `layer.table`."""
    return {spec.table_name: table_doc(spec) for spec in curated_specs()}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table_section(doc: TableDoc, lineage: ColumnLineage) -> str:
    rows = "\n".join(
        f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.pii} | {_cell(c.description)} |"
        for c in doc.columns
    )
    references = "".join(f"\n- `{reference}`" for reference in doc.foreign_keys)
    return (
        f"## `{doc.name}`\n\n{doc.description}\n\n"
        f"Grain: {doc.grain}. Key: {', '.join(f'`{k}`' for k in doc.key)}. Written by: {doc.written_by}. "
        f"Owners: {', '.join(doc.owners)}. Retention: {doc.retention}.\n\n"
        + (f"Foreign keys:\n{references}\n\n" if references else "")
        + f"| column | type | nullable | PII | description |\n| --- | --- | --- | --- | --- |\n{rows}\n"
        + _lineage_section(doc.name, lineage)
    )


def _lineage_section(table: str, lineage: ColumnLineage) -> str:
    """The table's column lineage down to raw, as a Mermaid flowchart (nothing when it has none)."""
    if not lineage.edges(table):
        return ""
    return (
        "\nColumn lineage (each column from the columns it is computed from, down to raw; "
        f"`lakehouse lineage {table} --column COLUMN` prints one column's path):\n\n"
        f"```mermaid\n{mermaid(lineage, table)}\n```\n"
    )


def render_dictionary(lineage: ColumnLineage) -> str:
    """The Markdown data dictionary of the curated tables, with their column `lineage`."""
    docs = curated_docs().values()
    index = "\n".join(f"- [`{d.name}`](#{d.name.replace('.', '')})" for d in docs)
    header = (
        "# Data dictionary: the curated layer\n\n"
        "Generated from the table specs and contracts (in the modules of `lakehouse/defs/curated/`) "
        "by `lakehouse dictionary`; do not edit by hand. The same descriptions are the comments of the "
        "DuckDB catalog's views (`lakehouse tables --describe`). Columns starting with `_` are "
        "bookkeeping for incremental builds. PII: `indirect` marks a column that leads to a person "
        "with other data (an id, a keyed pseudonym); no curated table holds direct PII (names, emails).\n\n"
    )
    return header + index + "\n\n" + "\n".join(_table_section(d, lineage) for d in docs)


def write_dictionary(lineage: ColumnLineage, path: Path | None = None) -> Path:
    """Write the dictionary (by default to DATA_DICTIONARY.md in this package); its path."""
    path = path or DICTIONARY_PATH
    path.write_text(render_dictionary(lineage))
    return path
