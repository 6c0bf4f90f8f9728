"""Column lineage across tables: a column's path down to raw columns, as text, Mermaid or SVG.

Every refined and curated asset declares its own `dagster/column_lineage` (each column's columns in
its input tables). Dagster's open-source UI shows that one hop as JSON; this module joins the hops
of every table into one graph, so a curated column can be followed through refined down to the raw
columns it comes from, printed (`lakehouse lineage TABLE --column COL`) or drawn: Mermaid text for
the data dictionary, and an inline SVG, laid out here, for the offline HTML report (Mermaid needs
a JavaScript renderer, which an offline report cannot load).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape

import dagster as dg

from lakehouse.lib.storage.table_metadata import COLUMN_LINEAGE

Column = tuple[str, str]  # (table as the catalog names it, `curated.fact_payments`; column)


@dataclass(frozen=True)
class ColumnPath:
    """A column and, recursively, the columns it is computed from (none: a source column)."""

    table: str
    column: str
    sources: tuple[ColumnPath, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def leaves(self) -> list[str]:
        """The source columns at the end of every path (raw columns, for a complete lineage), sorted."""
        if not self.sources:
            return [self.name]
        return sorted({leaf for source in self.sources for leaf in source.leaves()})

    def lines(self, depth: int = 0) -> list[str]:
        """The path as an indented tree, one column a line."""
        return ["  " * depth + self.name, *(line for s in self.sources for line in s.lines(depth + 1))]


def table_name(key: dg.AssetKey) -> str:
    """`curated/fact_payments` as the catalog names it: `curated.fact_payments`."""
    return ".".join(key.path)


class ColumnLineage:
    """Each table's columns and the input columns each is computed from, over every table."""

    def __init__(self, deps: Mapping[str, Mapping[str, Iterable[Column]]]) -> None:
        self.deps = {
            table: {c: sorted(set(d)) for c, d in columns.items()} for table, columns in deps.items()
        }

    @classmethod
    def of(cls, lineages: Mapping[dg.AssetKey, dg.TableColumnLineage]) -> ColumnLineage:
        return cls(
            {
                table_name(key): {
                    column: [(table_name(dep.asset_key), dep.column_name) for dep in deps]
                    for column, deps in lineage.deps_by_column.items()
                }
                for key, lineage in lineages.items()
            }
        )

    @classmethod
    def from_definitions(cls, definitions: dg.Definitions) -> ColumnLineage:
        """The lineage every asset of `definitions` declares."""
        return cls.of(
            {
                spec.key: spec.metadata[COLUMN_LINEAGE]
                for spec in definitions.resolve_all_asset_specs()
                if COLUMN_LINEAGE in spec.metadata
            }
        )

    def trace(self, table: str, column: str) -> ColumnPath:
        """The path of `table.column` down to its source columns; a ValueError names what exists."""
        table = table.replace("/", ".")
        if table not in self.deps:
            raise ValueError(
                f"no column lineage for table {table}; tables with lineage: {', '.join(sorted(self.deps))}"
            )
        if column not in self.deps[table]:
            known = ", ".join(self.deps[table])
            raise ValueError(f"{table} has no column {column} with lineage; its columns: {known}")
        return self._path(table, column, frozenset())

    def _path(self, table: str, column: str, seen: frozenset[Column]) -> ColumnPath:
        here = (table, column)
        sources = () if here in seen else self.deps.get(table, {}).get(column, ())
        return ColumnPath(table, column, tuple(self._path(t, c, seen | {here}) for t, c in sources))

    def edges(self, table: str) -> list[tuple[Column, Column]]:
        """Every (source, target) column edge upstream of `table`'s columns, `table`'s own included."""
        found: set[tuple[Column, Column]] = set()
        pending = [(table, column) for column in self.deps.get(table, {})]
        while pending:
            target = pending.pop()
            for source in self.deps.get(target[0], {}).get(target[1], ()):
                if (source, target) not in found:
                    found.add((source, target))
                    pending.append(source)
        return sorted(found)


def mermaid(lineage: ColumnLineage, table: str) -> str:
    """A Mermaid flowchart of `table`'s columns down to their source columns, a box per table."""
    edges = lineage.edges(table)
    by_table = _columns_by_table(edges)

    def node(column: Column) -> str:
        return f"{column[0]}.{column[1]}".replace(".", "__")

    lines = ["flowchart LR"]
    for name, columns in by_table.items():
        lines.append(f'  subgraph {name.replace(".", "__")}["{name}"]')
        lines.extend(f'    {node((name, c))}["{c}"]' for c in columns)
        lines.append("  end")
    lines.extend(f"  {node(source)} --> {node(target)}" for source, target in edges)
    return "\n".join(lines)


def _columns_by_table(edges: list[tuple[Column, Column]]) -> dict[str, list[str]]:
    """The columns of each table an edge touches, tables and columns sorted."""
    columns: dict[str, set[str]] = {}
    for edge in edges:
        for table, column in edge:
            columns.setdefault(table, set()).add(column)
    return {table: sorted(columns[table]) for table in sorted(columns)}


# The SVG's geometry, in pixels: a table is a box of column rows; tables stand in layers by distance
# from the table drawn (rightmost), sources to the left.
ROW, HEADER, WIDTH, GAP_X, GAP_Y, PAD = 16, 20, 200, 90, 14, 8


def svg(lineage: ColumnLineage, table: str) -> str:
    """An SVG diagram of `table`'s columns down to their source columns (empty: no lineage)."""
    edges = lineage.edges(table)
    if not edges:
        return ""
    by_table = _columns_by_table(edges)
    layers = _layers(table, edges)
    depth = max(layers.values())
    anchors: dict[Column, tuple[float, float]] = {}  # each column row's left edge: x, y (its middle)
    boxes, heights = [], [0] * (depth + 1)
    for name, columns in by_table.items():
        layer = layers[name]
        x, y = PAD + (depth - layer) * (WIDTH + GAP_X), PAD + heights[layer]
        heights[layer] += HEADER + ROW * len(columns) + GAP_Y
        boxes.append(_box(name, columns, x, y))
        for i, column in enumerate(columns):
            anchors[(name, column)] = (x, y + HEADER + ROW * i + ROW / 2)
    curves = [_curve(anchors[source], anchors[target]) for source, target in edges]
    width = 2 * PAD + (depth + 1) * WIDTH + depth * GAP_X
    height = 2 * PAD + max(heights) - GAP_Y
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' font-family='monospace' font-size='11'>"
        f"<g fill='none' stroke='#7a8fb3' stroke-width='1'>{''.join(curves)}</g>{''.join(boxes)}</svg>"
    )


def _layers(table: str, edges: list[tuple[Column, Column]]) -> dict[str, int]:
    """Each table's layer: its longest distance, in table hops, from `table` (0)."""
    layers = {table: 0}
    hops = {(s[0], t[0]) for s, t in edges if s[0] != t[0]}
    for _ in range(len(hops)):  # longest paths in a DAG: relax at most once per hop
        changed = False
        for source, target in hops:
            if target in layers and layers.get(source, -1) < layers[target] + 1:
                layers[source] = layers[target] + 1
                changed = True
        if not changed:
            break
    return layers


def _box(name: str, columns: list[str], x: float, y: float) -> str:
    rows = "".join(
        f"<text x='{x + 6}' y='{y + HEADER + ROW * i + 12}'>{escape(c)}</text>" for i, c in enumerate(columns)
    )
    height = HEADER + ROW * len(columns)
    return (
        f"<g><rect x='{x}' y='{y}' width='{WIDTH}' height='{height}' rx='4' fill='#f7f9fc' stroke='#9aa7bd'/>"
        f"<rect x='{x}' y='{y}' width='{WIDTH}' height='{HEADER}' rx='4' fill='#dde5f2'/>"
        f"<text x='{x + 6}' y='{y + 14}' font-weight='bold'>{escape(name)}</text>{rows}</g>"
    )


def _curve(source: tuple[float, float], target: tuple[float, float]) -> str:
    """A Bézier curve from a source column's right edge to a target column's left edge."""
    (sx, sy), (tx, ty) = (source[0] + WIDTH, source[1]), target
    mid = (sx + tx) / 2
    return f"<path d='M{sx},{sy} C{mid},{sy} {mid},{ty} {tx},{ty}'/>"
