"""Recorded benchmark results, one per scale, and the chart of time and peak memory against scale.

The results live in a small committed JSON file (`docs/benchmark.json` by default), not under
`data/`: the data folder is throw-away (`make clean`) and git-ignored, while the README quotes
these figures and shows their chart, so they are versioned with the code that produced them. Each
scale keeps its latest run (`record`); `lakehouse bench --chart FILE` draws them (`draw`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS_FILE = Path("docs") / "benchmark.json"
# (label, phase key in a recorded result): the lines of both panels
SERIES = (
    ("full build (3 layers)", "full"),
    ("one-day incremental (3 layers)", "incremental"),
    ("generate sources", "generate"),
    ("advance 1 day", "advance"),
)
STEP_PEAK_LIMIT_MB = 6 * 1024  # issue 11: every step of scale 10 within 6 GB


def read_results(path: Path) -> list[dict[str, Any]]:
    """The recorded results, by scale (none when the file does not exist yet)."""
    if not path.exists():
        return []
    return sorted(json.loads(path.read_text())["results"], key=lambda result: result["scale"])


def record(path: Path, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Keep `result` as its scale's (replacing an older one); returns every recorded result."""
    results = [r for r in read_results(path) if r["scale"] != result["scale"]]
    results = sorted([*results, result], key=lambda r: r["scale"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"results": results}, indent=2) + "\n")
    return results


def draw(results: list[dict[str, Any]], path: Path) -> Path:
    """Work seconds and peak memory of each phase against scale (log-log), saved to `path`
    (the format from its suffix: .png, .svg, .pdf)."""
    from matplotlib.figure import Figure  # only drawing needs it
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if not results:
        raise ValueError("no recorded benchmark results to draw: run `lakehouse bench --scale S --record`")
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    seconds, memory = figure.subplots(1, 2)
    scales = [r["scale"] for r in results]
    for label, phase in SERIES:
        seconds.plot(scales, [r[phase]["seconds"] for r in results], marker="o", label=label)
        memory.plot(scales, [r[phase]["peak_mb"] for r in results], marker="o", label=label)
    memory.axhline(STEP_PEAK_LIMIT_MB, color="grey", linestyle="--", linewidth=1)
    memory.annotate("6 GB: the limit of any step at scale 10", (scales[0], STEP_PEAK_LIMIT_MB * 1.08))
    for axes, title, unit in ((seconds, "work time", "seconds"), (memory, "peak memory (any step)", "MB")):
        axes.set(xscale="log", yscale="log", xlabel="scale factor (1 = 1M orders a year)", ylabel=unit)
        axes.set_title(title)
        axes.set_xticks(scales, [f"{s:g}" for s in scales])
        axes.grid(True, which="major", alpha=0.3)
        axes.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axes.yaxis.set_major_formatter(
            FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1 else f"{value:g}")
        )
        axes.yaxis.set_minor_formatter(NullFormatter())
    seconds.legend(fontsize="small")
    figure.suptitle(
        "lakehouse bench: a year of history, then one more day (load averages in docs/benchmark.json)",
        fontsize="medium",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, metadata=_NO_DATE.get(path.suffix.lower(), {}))
    return path


# No creation date in the file: the same results draw the same bytes.
_NO_DATE = {".png": {"Software": None}, ".svg": {"Date": None}, ".pdf": {"CreationDate": None}}
