"""The simulated source systems: `generate` them, keep them alive with `simulate`."""

import json
import signal
import time
from pathlib import Path

import click

from lakehouse.cli.context import DAYS, Project, pass_project, scale_option, seed_option


@click.command()
@scale_option("1 = 100k customers, 1M orders.")
@seed_option("Same seed, same data.")
@click.option("--days", default=365, show_default=True, type=DAYS, help="Days of shop history to simulate.")
@click.option(
    "--advance", "advance_days", type=DAYS, default=None, help="Append N more days to the simulation."
)
@click.option(
    "--force", is_flag=True, help="Regenerate even though tables were built from the current sources."
)
@pass_project
def generate(
    project: Project, scale: float, seed: int, days: int, advance_days: int | None, force: bool
) -> None:
    """Write the simulated source systems (shop database, landing files) and their ground truth."""
    from lakehouse import simulator

    settings = project.settings
    out = settings.sources_dir
    if advance_days is not None:
        if not settings.manifest_path.is_file():
            raise click.ClickException(f"no simulation in {out} to advance: run `lakehouse generate` first")
        manifest = simulator.advance(out, advance_days, progress=click.echo, **project.source_systems)
    else:
        if project.has_tables and not force:
            raise click.ClickException(
                f"{settings.tables_uri} holds tables built from the current sources; new sources would be "
                "mixed into them. Run `make clean` first (or pass --force if you mean it)."
            )
        manifest = simulator.generate(
            out, scale=scale, seed=seed, days=days, progress=click.echo, **project.source_systems
        )
    rows = ", ".join(f"{table} {count:,}" for table, count in manifest["source_rows"].items())
    click.echo(f"sources in {out}: {rows}")


@click.command()
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between two advances.",
)
@click.option("--days", "days_per_tick", default=1, show_default=True, type=DAYS, help="Days per advance.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the exchange-rate API (0: any free port).",
)
@scale_option("Scale factor if sources are generated.")
@seed_option("Seed if sources are generated.")
@pass_project
def simulate(
    project: Project, interval: float, days_per_tick: int, port: int, scale: float, seed: int
) -> None:
    """Keep the source systems alive until Ctrl-C: advance the shop every few seconds, serve the API.

    \b
    Each advance appends the next day(s): new orders and status changes in the shop database, new
    payment files, new clickstream micro-batches. The exchange-rate API answers meanwhile at
    http://127.0.0.1:PORT/v1/rates. Ctrl-C (or SIGTERM) stops between two writes.
    """
    from lakehouse import simulator
    from lakehouse.simulator.exchange_api import ExchangeRateServer

    settings = project.settings
    out = settings.sources_dir
    if not settings.manifest_path.is_file():
        simulator.generate(out, scale=scale, seed=seed, progress=click.echo, **project.source_systems)
    params = simulator.read_params(out)
    # Ctrl-C and SIGTERM stop cleanly, also when started with SIGINT ignored (a script's background
    # job is): Python then installs no handler of its own for it.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    ticks = 0
    with ExchangeRateServer(port=port, seed=params.seed) as server:
        click.echo(f"exchange-rate API at {server.base_url}/v1/rates")
        click.echo(f"advancing {out} by {days_per_tick} day(s) every {interval:g} s; Ctrl-C stops")
        try:
            while True:
                time.sleep(interval)
                before = _source_counts(out)
                manifest = simulator.advance(out, days_per_tick, **project.source_systems)
                ticks += 1
                click.echo(_advance_line(manifest, before, _source_counts(out)))
        except KeyboardInterrupt:
            pass
    days = simulator.read_params(out).days
    click.echo(f"stopped after {ticks} advance(s); the simulation holds {days} days")


def _source_counts(out: Path) -> dict[str, int]:
    """What the landing zone and the manifest hold: the base of each progress line."""
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "orders": manifest["source_rows"]["orders"],
        "payment files": len(list(out.glob("landing/payments/settlement_*.csv"))),
        "inventory snapshots": manifest["inventory"]["files"],
        "clickstream batches": manifest["clickstream"]["batches"],
        "events": manifest["clickstream"]["lines"],
    }


def _advance_line(manifest: dict, before: dict[str, int], after: dict[str, int]) -> str:
    added = ", ".join(f"+{after[name] - before[name]:,} {name}" for name in after)
    return f"{time.strftime('%H:%M:%S')} day {manifest['days']}: {added}"


COMMANDS = (generate, simulate)
