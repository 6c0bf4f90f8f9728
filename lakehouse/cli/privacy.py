"""`lakehouse erase`: erase a customer on request (GDPR art. 17), and check an erasure certificate."""

import json
import sys
from pathlib import Path

import click

from lakehouse.cli.build import exclusive_run
from lakehouse.cli.context import Project, or_exit, pass_project


@click.command()
@click.option("--customer", type=int, default=None, help="The shop's customer id of the person to erase.")
@click.option("--email", default=None, help="Their email (matched by its keyed hash, as refined stores it).")
@click.option(
    "--verify",
    "certificate",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Check an erasure certificate's signature (LAKEHOUSE_ERASURE_KEY) instead of erasing.",
)
@pass_project
def erase(project: Project, customer: int | None, email: str | None, certificate: Path | None) -> None:
    """Erase a customer everywhere and write a signed erasure certificate.

    Their own records (customers in raw, refined, quarantine, dim_customer, mart_customer_rfm) are
    deleted; their orders, payments, events and sessions stay, attributed to the unknown member
    (-1), so totals do not change; audit entries naming them are scrubbed. Old Delta versions and
    the files still holding them are purged, and a suppression list keeps raw ingestion from
    bringing them back. Runs under the run lock: never during a build.
    """
    settings = project.settings
    if certificate is not None:
        from lakehouse.operations.erasure import verify

        valid = verify(json.loads(certificate.read_text()), settings.erasure_key)
        click.echo(f"{certificate}: signature {'valid' if valid else 'INVALID'}")
        sys.exit(0 if valid else 1)
    if (customer is None) == (email is None):
        raise click.UsageError("name the person with exactly one of --customer or --email")
    from lakehouse.operations.erasure import erase_and_certify

    with exclusive_run(settings.data_dir):
        path, certificate = or_exit(lambda: erase_and_certify(settings, customer, email))
    for table in certificate["tables"]:
        if table["rows_affected"]:
            click.echo(f"  {table['table']:<28} {table['action']:<10} {table['rows_affected']:>6} rows")
    click.echo(f"erased ({certificate['request_id']}); certificate: {path}")


COMMANDS = (erase,)
