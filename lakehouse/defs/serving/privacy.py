"""The PII scanner check: no clear email or customer name in any view the catalog serves.

Run on the published catalog, as a reader without the privileged setting sees it (direct PII
masked), so it fails when direct PII reaches a curated table (whose views are never masked: no
curated contract may declare direct PII) or a view that fails to mask it. The names looked for are
every first and last name the shop database ever sent (raw, the quarantined ones included).

A view whose definition (the very files it reads, and its masks) and the names looked for are
those of the last passing scan is not scanned again (it would give the same findings: none): a run
that changed nothing scans nothing, a daily run only the views of the tables it wrote. A full-check
run (the weekly `full_checks` job) scans every view.
"""

from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse.defs.serving.catalog import CATALOG
from lakehouse.lib.quality.checks import last_passed
from lakehouse.lib.storage.store import DeltaStore
from lakehouse.serving.pii_scan import scan, view_digests
from lakehouse.serving.resource import ServingCatalog

RAW_CUSTOMERS = dg.AssetKey(["raw", "customers"])
NAME_COLUMNS = ("first_name", "last_name")
SCANNED = "view_digests"  # the check's metadata: each view's digest as this scan judged it


def customer_names(store: DeltaStore) -> list[str]:
    """Every first and last name in raw customers, trimmed (none before the first extraction)."""
    raw = store.scan_or_none(RAW_CUSTOMERS)
    if raw is None:
        return []
    names = raw.select(pl.concat_list(*NAME_COLUMNS).explode().str.strip_chars().unique().drop_nulls())
    return sorted(n for n in names.collect().to_series().to_list() if n)


NO_CLEAR_PII = dg.AssetCheckKey(CATALOG, "no_clear_pii")


@dg.asset_check(
    asset=CATALOG,
    name=NO_CLEAR_PII.name,
    blocking=True,
    description=(
        "No served view (curated ones included) holds an email address or a customer's first or last "
        "name in clear, as a reader without the privileged setting sees it."
    ),
)
def no_clear_pii(
    context: dg.AssetCheckExecutionContext, store: DeltaStore, serving_catalog: ServingCatalog
) -> dg.AssetCheckResult:
    reader = serving_catalog.model_copy(update={"clear_pii_purpose": None})
    if not Path(reader.database).is_file():
        return dg.AssetCheckResult(passed=True, metadata={"views_scanned": 0})
    names = customer_names(store)
    with reader.get_connection() as con:
        digests = view_digests(con, names)
        vouched = last_passed(context, NO_CLEAR_PII).get(SCANNED, {})
        changed = [view for view, digest in digests.items() if vouched.get(view) != digest]
        findings = scan(con, names, changed)
    rows = "".join(f"\n| `{f.view}` | `{f.column}` | {f.emails} | {f.names} |" for f in findings)
    table = dg.MetadataValue.md(f"| view | column | emails | names |\n|---|---|---|---|{rows}")
    return dg.AssetCheckResult(
        passed=not findings,
        metadata={
            "findings": len(findings),
            "views_scanned": len(changed),
            "views_unchanged": len(digests) - len(changed),
            SCANNED: dg.MetadataValue.json(digests),  # what the next scan may skip, if this passed
            **({"clear_pii": table} if findings else {}),
        },
    )
