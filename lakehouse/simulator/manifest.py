"""The ground-truth manifest: what was written, what is clean, and the totals a correct lakehouse
must reproduce. Everything is computed from the clean in-memory frames, never read back.

- `source_rows`: rows written, duplicates included; for payments the data lines of all files,
  malformed and duplicated lines included.
- `clean_rows`: distinct rows that pass every quarantine rule of their own table, so that per
  table `source_rows = clean_rows + duplicates + quarantined`.
- `totals.fact_order_items`: the order lines a correct `fact_order_items` holds: lines that pass
  their own rules and whose order is not quarantined (an order without a customer holds its lines
  back). Lines of quarantined customers' orders and of products without a price are in.
- `totals.net_revenue_usd`: over those lines, `to_usd(quantity * unit_price) - to_usd(discount)`
  at the rate of the order's day; `net_revenue_usd_excl_cancelled` leaves out the lines of
  cancelled orders.
- `deletes`: per table, the soft-deleted keys with their `deleted_at` and the hard-deleted
  (purged) keys with the day they left the database (see `deletes`). Purged rows are not in
  `source_rows` or `clean_rows`: the database no longer holds them.
- `totals.payments_amount_usd`: `to_usd(amount)` at the rate of the settlement day, over the
  distinct payments that are not lost to a malformed line.

The rates are the simulated provider's (`exchange_rates.simulation_rates`): the ones the
lakehouse ingests from it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from lakehouse.lib.currency import MONEY, to_usd, with_rate_of_day
from lakehouse.simulator.defects import TABLES, Sources, kinds_of
from lakehouse.simulator.deletes import deleted_keys, present
from lakehouse.simulator.exchange_rates import simulation_rates
from lakehouse.simulator.state import Params


def build_manifest(params: Params, marked: dict[str, pl.DataFrame], sources: Sources) -> dict[str, Any]:
    return {
        **params.to_json(),
        "defect_rates": {table: {kind.defect: kind.rate for kind in kinds_of(table)} for table in TABLES},
        "source_rows": sources.rows,
        "clean_rows": {table: present(marked)[table].filter(~_quarantined(table)).height for table in TABLES},
        "defect_counts": _defect_counts(sources.defects),
        "totals": _totals(marked, params),
        "deletes": deleted_keys(marked),
    }


def _quarantined(table: str) -> pl.Expr:
    """Whether a marked row carries a defect that its table's rules quarantine."""
    kinds = [kind.defect for kind in kinds_of(table) if kind.handling == "quarantine"]
    return pl.col("defect").is_in(kinds).fill_null(False)


def _defect_counts(defects: pl.DataFrame) -> dict[str, dict[str, int]]:
    counts = {
        (row["table"], row["defect"]): row["len"]
        for row in defects.group_by("table", "defect").len().iter_rows(named=True)
    }
    return {
        table: {kind.defect: counts.get((table, kind.defect), 0) for kind in kinds_of(table)}
        for table in TABLES
    }


def _totals(marked: dict[str, pl.DataFrame], params: Params) -> dict[str, Any]:
    orders = marked["orders"]
    held_back = orders.filter(_quarantined("orders")).select("order_id")
    rates = simulation_rates(params).lazy()
    day = pl.lit(params.start) + pl.duration(days=pl.col("day"))  # an order's day; a payment's settlement
    rate = pl.col("usd_rate")
    gross = (pl.col("unit_price").round(2).cast(MONEY) * pl.col("quantity")).cast(MONEY)
    discount = pl.col("discount").round(2).cast(MONEY)
    fact = (
        marked["order_items"]
        .lazy()
        .filter(~_quarantined("order_items"))
        .join(held_back.lazy(), on="order_id", how="anti")
        .select("order_id", "quantity", "unit_price", "discount")
        .join(orders.lazy().select("order_id", "status", "currency", "day"), on="order_id")
        .pipe(with_rate_of_day, rates, day)
        .select("status", net_usd=to_usd(gross, rate) - to_usd(discount, rate))
        .collect()
    )
    payments = (
        marked["payments"]
        .lazy()
        .filter(~_quarantined("payments"))
        .pipe(with_rate_of_day, rates, day)
        .select(amount_usd=to_usd(pl.col("amount").cast(MONEY), rate))
        .collect()
    )
    not_cancelled = fact.filter(pl.col("status") != "cancelled")
    return {
        "net_revenue_usd": _money(fact["net_usd"].sum()),
        "net_revenue_usd_excl_cancelled": _money(not_cancelled["net_usd"].sum()),
        "fact_order_items": fact.height,
        "payments_amount_usd": _money(payments["amount_usd"].sum()),
    }


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"
