"""The `lakehouse` command line."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """lakehouse: simulated shop sources -> raw -> refined -> curated Delta tables, served by DuckDB."""
