"""The data-quality report as one self-contained HTML file: inline CSS, charts as inline SVG.

It opens offline (no script, no external file). Charts are drawn with matplotlib's object API
(a `Figure` of our own, never pyplot's global state) and every text that comes from data is escaped.
Over-time charts share one x axis: the report's runs, oldest first, labelled by their time.
"""

from __future__ import annotations

import io
from html import escape
from pathlib import Path

import matplotlib
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from lakehouse.lib import column_lineage
from lakehouse.operations.report import (
    IS_ANOMALY,
    ReportData,
    anomalies,
    checks_per_run,
    held_back,
    latest_checks,
    latest_metrics,
    summary_line,
    table_summary,
)

OUTCOME_COLOURS = {"passed": "#3a9a5b", "warning": "#e0a526", "failed": "#d1453b"}
MAX_TICKS = 12  # run labels on an x axis
MIN_SLOTS = 8  # room on the x axis for this many runs, so one run is not one wall-wide bar
NULL_RATE_COLUMNS = 6  # columns drawn in a table's null-rate chart: those with the most nulls
TREND_MARGINS = {"left": 0.08, "right": 0.99, "top": 0.88, "bottom": 0.3, "wspace": 0.2}  # of the figure
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { margin-bottom: 0; } h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem; }
.meta, .note { color: #666; }
.verdict { font-size: 1.2rem; font-weight: 600; padding: .6rem 1rem; border-radius: 4px; }
.verdict.ok { background: #e3f3e8; } .verdict.attention { background: #fbe3e1; }
table { border-collapse: collapse; margin: .8rem 0; font-size: 13px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .2rem .7rem; text-align: left; }
th { background: #f4f4f4; }
td.failed, td.stale, td.never { color: #b3261e; font-weight: 600; }
td.warning, td.late { color: #9a6700; font-weight: 600; } td.passed, td.fresh { color: #2d7a47; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; }
details { margin: .4rem 0; } summary { cursor: pointer; font-weight: 600; }
"""
ESCAPES = (["&", "<", ">", '"', "'"], ["&amp;", "&lt;", "&gt;", "&quot;", "&#x27;"])
STATUS_COLUMNS = ("outcome", "state", "freshness")  # cells styled by their value


def write(data: ReportData, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    return path


def render(data: ReportData) -> str:
    if data.is_empty:
        body = (
            "<p class='verdict attention'>No runs have written to this lakehouse yet, so there is "
            "nothing to report. Build it first: <code>lakehouse run</code>.</p>"
        )
    else:
        body = "".join(
            [
                _summary(data),
                _checks(data),
                _quarantine(data),
                _held_back(data),
                _anomalies(data),
                _freshness(data),
                _trends(data),
                _lineage(data),
            ]
        )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Data quality report</title><style>{CSS}</style></head><body>"
        f"<h1>Data quality report</h1><p class='meta'>{escape(_period(data))}</p>{body}</body></html>\n"
    )


def _period(data: ReportData) -> str:
    generated = f"generated {data.generated_at:%Y-%m-%d %H:%M} UTC"
    if data.is_empty:
        return generated
    first, last = data.runs.get_column("at").min(), data.runs.get_column("at").max()
    span = f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC"
    return f"{generated}, over the newest {data.runs.height} runs ({span})"


def _summary(data: ReportData) -> str:
    line = summary_line(data)
    kind = "ok" if line.startswith("OK") else "attention"
    return (
        f"<section id='summary'><h2>Is my data OK?</h2><p class='verdict {kind}'>{escape(line)}</p>"
        f"{_html_table(table_summary(data))}"
        "<h3>Latest check outcomes</h3><p class='note'>Each check's newest evaluation; failing first.</p>"
        f"{_html_table(latest_checks(data.checks))}</section>"
    )


def _checks(data: ReportData) -> str:
    per_run = checks_per_run(data.runs, data.checks)
    if data.checks.is_empty():
        return _section("checks", "Checks per run", _note("No check was evaluated in these runs."))
    figure, axes = _figure(height=3.2)
    stacks = {outcome: per_run.get_column(outcome) for outcome in OUTCOME_COLOURS}
    _stacked_bars(axes, list(range(per_run.height)), stacks, "checks", OUTCOME_COLOURS)
    _run_axis(axes, data.runs)
    return _section("checks", "Checks per run", _svg(figure, "checks") + _html_table(per_run))


def _quarantine(data: ReportData) -> str:
    rules = data.quarantine_rules
    if rules.is_empty():
        return _section("quarantine", "Quarantine", _note("Quarantine is empty: no row was rejected."))
    labels = rules.select(pl.format("{} · {}", "table", "rule")).to_series()
    figure, axes = _figure(height=0.28 * rules.height + 0.8)
    axes.barh(labels, rules.get_column("rows"), color="#8a6bbf")
    axes.invert_yaxis()
    axes.set_xlabel("rows now in quarantine (a row breaking two rules counts under both)")
    by_rule = _svg(figure, "quarantine-rules") + _html_table(rules)
    return _section("quarantine", "Quarantine", by_rule + _quarantine_over_runs(data))


def _held_back(data: ReportData) -> str:
    rows = held_back(data)
    if rows.get_column("rows").sum() == 0:
        return _section("held-back", "Rows held back", _note("No row is held back."))
    note = _note("Rows kept out of a table for now (counted as warnings of the run), by reason.")
    return _section("held-back", "Rows held back", note + _html_table(rows.filter(pl.col("rows") > 0)))


def _quarantine_over_runs(data: ReportData) -> str:
    counts = (
        data.quarantine_runs.join(_run_numbers(data), on="run_id")
        .pivot(on="table", index="run", values="rows", aggregate_function="sum")
        .sort("run")
    )
    title = "<h3>Rows quarantined per run</h3>" + _note(
        "Rows still in quarantine, by the run that put them there."
    )
    if counts.is_empty():
        return title + _note("None of these runs quarantined a row that is still in quarantine.")
    figure, axes = _figure(height=3)
    stacks = {table: counts.get_column(table).fill_null(0) for table in counts.columns[1:]}
    _stacked_bars(axes, counts.get_column("run").to_list(), stacks, "rows")
    _run_axis(axes, data.runs)
    return title + _svg(figure, "quarantine-runs")


def _anomalies(data: ReportData) -> str:
    flagged = anomalies(data.checks)
    evaluated = data.checks.filter(IS_ANOMALY).height
    if flagged.is_empty():
        return _section(
            "anomalies", "Anomalies", _note(f"No anomaly flagged ({evaluated} anomaly checks evaluated).")
        )
    return _section("anomalies", "Anomalies", _html_table(flagged))


def _freshness(data: ReportData) -> str:
    if data.freshness.is_empty():
        return _section("freshness", "Freshness", _note("No asset has a freshness policy."))
    shown = data.freshness.select("table", "policy", "last_materialised", "state")
    return _section("freshness", "Freshness", _html_table(shown))


def _trends(data: ReportData) -> str:
    tables = data.metrics.get_column("table").unique().sort().to_list()
    latest = latest_metrics(data.metrics).filter(pl.col("metric") != "null_rate")
    parts = [
        f"<h3>{escape(table)}</h3>{_table_chart(data, table)}"
        f"{_html_table(latest.filter(pl.col('table') == table).drop('table'))}"
        for table in tables
    ]
    note = _note("Rows and null rates per run that wrote the table; below, each metric's newest value.")
    return _section("trends", "Table trends", note + "".join(parts))


def _table_chart(data: ReportData, table: str) -> str:
    history = data.metrics.filter(pl.col("table") == table).join(_run_numbers(data), on="run_id").sort("at")
    figure = Figure(figsize=(10, 2.6))
    # Margins fixed for the rotated run labels below: a tight bounding box would draw each of the
    # report's ~45 charts twice (a third of the whole report's CPU).
    figure.subplots_adjust(**TREND_MARGINS)
    rows_axes, nulls_axes = figure.subplots(1, 2)
    rows = history.filter(pl.col("metric") == "rows")
    rows_axes.plot(rows.get_column("run"), rows.get_column("value"), marker="o", color="#2f6db3")
    rows_axes.set_title("rows", fontsize="medium")
    _run_axis(rows_axes, data.runs)
    nulls = history.filter(pl.col("metric") == "null_rate")
    worst = (
        nulls.group_by("column")
        .agg(pl.col("value").max())
        .filter(pl.col("value") > 0)
        .sort("value", "column", descending=[True, False])
        .head(NULL_RATE_COLUMNS)
        .get_column("column")
    )
    lines = [
        nulls_axes.plot(points.get_column("run"), points.get_column("value"), marker="o")[0]
        for points in (nulls.filter(pl.col("column") == column) for column in worst)
    ]
    nulls_axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    if lines:  # labels passed explicitly: matplotlib would leave out those starting with _
        nulls_axes.legend(lines, worst.to_list(), fontsize="x-small")
    else:
        nulls_axes.text(0.5, 0.5, "no nulls", ha="center", va="center", transform=nulls_axes.transAxes)
    nulls_axes.set_title(f"null rate (the {NULL_RATE_COLUMNS} columns with most nulls)", fontsize="medium")
    _run_axis(nulls_axes, data.runs)
    return _svg(figure, f"trend-{table}", tight=False)


def _lineage(data: ReportData) -> str:
    """Each curated table's column lineage down to raw, as a diagram (folded: they are large)."""
    tables = sorted(t for t in data.lineage.deps if t.startswith("curated."))
    parts = [
        f"<details id='lineage-{escape(t)}'><summary>{escape(t)}</summary>"
        f"<figure>{column_lineage.svg(data.lineage, t)}</figure></details>"
        for t in tables
    ]
    note = _note(
        "Each column, right, from the columns it is computed from, left, down to raw "
        "(lakehouse lineage TABLE --column COLUMN prints one column's path)."
    )
    return _section("lineage", "Column lineage", note + "".join(parts))


def _run_numbers(data: ReportData) -> pl.DataFrame:
    """Each reported run's position on the x axis (`run`: 0 = the oldest)."""
    return data.runs.with_row_index("run").select("run", "run_id")


def _stacked_bars(
    axes, x: list[int], stacks: dict[str, pl.Series], unit: str, colours: dict[str, str] | None = None
) -> None:
    """One bar per x, stacked from `stacks` in order, with a legend of their names."""
    bottom = pl.Series([0] * len(x))
    for label, heights in stacks.items():
        axes.bar(x, heights, bottom=bottom, label=label, color=(colours or {}).get(label))
        bottom = bottom + heights
    axes.set_ylabel(unit)
    axes.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize="small")


def _figure(height: float) -> tuple[Figure, matplotlib.axes.Axes]:
    figure = Figure(figsize=(10, height))
    return figure, figure.subplots()


def _run_axis(axes, runs: pl.DataFrame) -> None:
    """Runs on the x axis (0 = the oldest reported), at most MAX_TICKS labels, by run time."""
    step = max(1, -(-runs.height // MAX_TICKS))
    ticks = list(range(0, runs.height, step))
    times = runs.get_column("at").gather(ticks).dt.to_string("%m-%d %H:%M")
    labels = [f"#{tick + 1} {time}" for tick, time in zip(ticks, times, strict=True)]
    axes.set_xticks(ticks, labels, rotation=30, ha="right", fontsize="x-small")
    axes.set_xlim(-0.6, max(runs.height, MIN_SLOTS) - 0.4)


def _svg(figure: Figure, name: str, tight: bool = True) -> str:
    """The figure as inline SVG: text kept as text (small, searchable), ids unique per chart.

    `tight`: cropped to what is drawn (legends outside the axes included), at the cost of drawing it
    twice; a chart with margins of its own passes False."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        figure.savefig(buffer, format="svg", bbox_inches="tight" if tight else None, metadata={"Date": None})
    text = buffer.getvalue()
    return f"<figure>{text[text.index('<svg') :]}</figure>"


def _section(anchor: str, title: str, content: str) -> str:
    return f"<section id='{anchor}'><h2>{escape(title)}</h2>{content}</section>"


def _note(text: str) -> str:
    return f"<p class='note'>{escape(text)}</p>"


def _html_table(frame: pl.DataFrame) -> str:
    """An HTML table of `frame`, every cell escaped; status columns get their value as CSS class."""
    head = "".join(f"<th>{escape(name)}</th>" for name in frame.columns)
    cells = [
        pl.format("<td class='{}'>{}</td>", _text(name, dtype), _text(name, dtype))
        if name in STATUS_COLUMNS
        else pl.format("<td>{}</td>", _text(name, dtype))
        for name, dtype in frame.schema.items()
    ]
    body = frame.select(pl.concat_str([pl.lit("<tr>"), *cells, pl.lit("</tr>")]).str.join("")).item()
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column as escaped text: times to the second (UTC), floats to 4 places, nulls as -."""
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        column = column.dt.to_string("%Y-%m-%d %H:%M:%S")
    elif dtype.is_float():  # whole numbers (row counts) without a trailing .0
        whole = column.cast(pl.Int64, strict=False).cast(pl.String)
        column = pl.when(column == column.round(0)).then(whole).otherwise(column.round(4).cast(pl.String))
    return column.cast(pl.String).fill_null("-").str.replace_many(*ESCAPES)
