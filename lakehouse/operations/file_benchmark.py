"""The big-file benchmark (`lakehouse bench --big-file SIZE_MB`): one large CSV through a declared
file set, against a plain `pl.read_csv` of the same file.

A synthetic settlement file of about SIZE_MB (deterministic: the same size, the same bytes; one
line in a thousand malformed, so the rescue path is exercised) is written to a throw-away landing
zone as a file of the declared `payments` set. Two child processes then each report their time and
peak memory (`VmHWM`, so each is that process's alone): `plain_read` reads the file with
`pl.read_csv(infer_schema=False)` (all text, as raw keeps it; ragged lines truncated), and `ingest`
materialises the file set's ingestion (`raw/payments`, `quarantine/payments_files`,
`raw/payments_file_versions`) through Dagster and the Delta IO manager, exactly as a run does;
`plain_write` reads the file plainly and writes it to Delta in one call: the floor of any ingestion
that stores the file. The targets (issue 11): the ingestion's peak at most 1.5 GB whatever the
file's size, and at most twice the plain read's time.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.operations.costs import peak_rss_mb

Echo = Callable[[str], None]

FILE_SET = "payments"  # the declared file set the big file belongs to
FILE_NAME = "settlement_2025-01-01.csv"
HEADER = "payment_id,order_id,amount,currency,method,settled_at\n"
ROWS_PER_CHUNK = 1_000_000  # lines generated at a time
MALFORMED_EVERY = 1_000  # one line in this many has a seventh field (a decimal comma)
PEAK_TARGET_MB = 1536.0
TIME_RATIO_TARGET = 2.0


@dataclass(frozen=True)
class Measured:
    """One child's work: seconds (after imports), CPU seconds (every thread's: on a loaded machine
    the steadier figure), peak resident memory and the rows it saw."""

    seconds: float
    cpu_seconds: float
    peak_mb: float
    rows: int


@dataclass(frozen=True)
class BigFileReport:
    size_mb: float
    lines: int
    plain_read: Measured
    plain_write: Measured  # the floor of landing the file in Delta: a plain read, one Delta write
    ingest: Measured

    @property
    def time_ratio(self) -> float:
        return self.ingest.seconds / self.plain_read.seconds

    @property
    def cpu_ratio(self) -> float:
        return self.ingest.cpu_seconds / self.plain_read.cpu_seconds

    @property
    def memory_ratio(self) -> float:
        return self.ingest.peak_mb / self.plain_read.peak_mb


def synthetic_settlements(path: Path, size_mb: float) -> int:
    """Write a settlement CSV of about `size_mb` MB; the number of data lines."""
    import polars as pl

    path.parent.mkdir(parents=True, exist_ok=True)
    line_bytes = 62  # the lines' mean length, measured
    total = max(1, int(size_mb * 1024 * 1024 / line_bytes))
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for start in range(0, total, ROWS_PER_CHUNK):
            n = pl.int_range(start, min(start + ROWS_PER_CHUNK, total), eager=True, dtype=pl.Int64)
            amount = ((n * 7919) % 100_000).cast(pl.String)
            amount = amount.str.zfill(3).str.head(-2) + "." + amount.str.zfill(3).str.tail(2)
            malformed = n % MALFORMED_EVERY == MALFORMED_EVERY - 1
            lines = pl.DataFrame(
                {
                    "payment_id": "pay_" + n.cast(pl.String).str.zfill(9),
                    "order_id": (n // 2 + 1).cast(pl.String),
                    "amount": pl.select(
                        pl.when(malformed).then(amount.str.replace(".", ",", literal=True)).otherwise(amount)
                    ).to_series(),
                    "currency": pl.Series(["USD", "EUR", "GBP"]).gather(n % 3),
                    "method": pl.Series(["card", "paypal", "bank_transfer", "card"]).gather(n % 4),
                    "settled_at": "2025-01-01T"
                    + ((n % 86_400) // 3600).cast(pl.String).str.zfill(2)
                    + ":"
                    + ((n % 3600) // 60).cast(pl.String).str.zfill(2)
                    + ":00Z",
                }
            )
            # a decimal comma unquoted: the line has seven fields, so it is rescued whole
            lines.write_csv(out, include_header=False, quote_style="never")
    return total


def run(root: Path, size_mb: float, keep: bool, echo: Echo) -> BigFileReport:
    """Write the file in a throw-away dir under `root`, then measure both children."""
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="big-file-", dir=root))
    try:
        path = work / "landing" / FILE_SET / FILE_NAME
        echo(f"writing a {size_mb:,.0f} MB settlement file to {path} …")
        lines = synthetic_settlements(path, size_mb)
        actual_mb = path.stat().st_size / 1024 / 1024
        echo(f"  {lines:,} lines, {actual_mb:,.0f} MB")
        echo("plain pl.read_csv …")
        plain = _run_child("plain_read", {"path": str(path)})
        echo(f"  {plain.seconds:.1f} s ({plain.cpu_seconds:.1f} s CPU), peak {plain.peak_mb:,.0f} MB")
        echo("plain pl.read_csv + write_delta …")
        floor = _run_child("plain_write", {"path": str(path), "table": str(work / "plain_delta")})
        echo(f"  {floor.seconds:.1f} s ({floor.cpu_seconds:.1f} s CPU), peak {floor.peak_mb:,.0f} MB")
        echo(f"ingesting it through the declared file set `{FILE_SET}` …")
        ingest = _run_child("ingest", {"landing": str(work / "landing"), "tables": str(work / "tables")})
        echo(f"  {ingest.seconds:.1f} s ({ingest.cpu_seconds:.1f} s CPU), peak {ingest.peak_mb:,.0f} MB")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return BigFileReport(actual_mb, lines, plain, floor, ingest)


def format_report(report: BigFileReport) -> str:
    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    peak_met = report.ingest.peak_mb <= PEAK_TARGET_MB
    ratio_met = report.time_ratio <= TIME_RATIO_TARGET
    return "\n".join(
        [
            f"\nbig file: {report.size_mb:,.0f} MB, {report.lines:,} lines",
            f"{'':<26}{'seconds':>10}{'CPU s':>10}{'peak MB':>10}{'rows':>14}",
            *(
                f"{name:<26}{m.seconds:>10.1f}{m.cpu_seconds:>10.1f}{m.peak_mb:>10,.0f}{m.rows:>14,}"
                for name, m in (
                    ("plain pl.read_csv", report.plain_read),
                    ("  + write_delta", report.plain_write),
                    ("declared file set", report.ingest),
                )
            ),
            f"\nfile set / plain read: time {report.time_ratio:.2f}x (target <= {TIME_RATIO_TARGET:.0f}x: "
            f"{verdict(ratio_met)}), CPU {report.cpu_ratio:.2f}x, memory {report.memory_ratio:.2f}x",
            f"peak {report.ingest.peak_mb:,.0f} MB (target <= {PEAK_TARGET_MB:,.0f} MB: {verdict(peak_met)})",
        ]
    )


def to_json(report: BigFileReport) -> dict[str, Any]:
    from dataclasses import asdict

    ratios = {
        "time_ratio": report.time_ratio,
        "cpu_ratio": report.cpu_ratio,
        "memory_ratio": report.memory_ratio,
    }
    return {**asdict(report), **ratios}


def _run_child(step: str, params: dict[str, Any]) -> Measured:
    done = subprocess.run(
        [sys.executable, "-m", "lakehouse.operations.file_benchmark", step, json.dumps(params)],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"big-file benchmark: {step} failed (exit code {done.returncode}); see above")
    return Measured(**json.loads(done.stdout.strip().splitlines()[-1]))


# --- the children -------------------------------------------------------------------------------


def _plain_read(path: str) -> Measured:
    import polars as pl

    started, cpu = time.perf_counter(), _cpu_seconds()
    rows = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True).height
    return Measured(time.perf_counter() - started, _cpu_seconds() - cpu, peak_rss_mb(), rows)


def _plain_write(path: str, table: str) -> Measured:
    import polars as pl

    started, cpu = time.perf_counter(), _cpu_seconds()
    rows = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True)
    rows.write_delta(table)
    return Measured(time.perf_counter() - started, _cpu_seconds() - cpu, peak_rss_mb(), rows.height)


def _ingest(landing: str, tables: str) -> Measured:
    import dagster as dg

    from lakehouse.components.declared import file_sets
    from lakehouse.defs.raw.files import build_raw_file_asset
    from lakehouse.lib.storage import delta_tables
    from lakehouse.lib.storage.io_manager import DeltaIOManager
    from lakehouse.lib.storage.store import DeltaStore
    from lakehouse.sources.landing import LandingZone

    files = file_sets()[FILE_SET]
    store = DeltaStore(root=tables)
    with dg.DagsterInstance.ephemeral() as instance:
        asset = build_raw_file_asset(files)
        resources = {
            "landing": LandingZone(root=landing),
            "store": store,
            "io_manager": DeltaIOManager(store=store),
        }
        # as a `lakehouse run` does, nothing on the console: printing every event cost ~0.8 s here
        quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
        started, cpu = time.perf_counter(), _cpu_seconds()
        result = dg.materialize([asset], instance=instance, resources=resources, run_config=quiet)
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    if not result.success:
        raise RuntimeError("the ingestion failed")
    rows = delta_tables.row_count(store.uri(files.raw_key))
    return Measured(seconds, cpu, peak_rss_mb(), rows)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child_main(argv: list[str]) -> None:
    step, params = argv[0], json.loads(argv[1])
    children = {"plain_read": _plain_read, "plain_write": _plain_write, "ingest": _ingest}
    measured = children[step](**params)
    print(json.dumps(measured.__dict__), flush=True)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
