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

The orders, order lines and payments are counted day by day into a ledger (`day_ledger`: one row
per day, kept with the simulator's carry state), so that the manifest of a long history is the sum
of its days, never a scan of it; the customers and products are small and counted whole.

The rates are the simulated provider's (`exchange_rates.simulation_rates`): the ones the
lakehouse ingests from it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from lakehouse.lib.currency import MONEY, to_usd, with_rate_of_day
from lakehouse.simulator.defects import TABLES, Sources, kinds_of
from lakehouse.simulator.deletes import deleted_keys, present
from lakehouse.simulator.exchange_rates import daily_rates
from lakehouse.simulator.state import Params

PEOPLE = ("customers", "products")  # counted whole
DAILY = ("orders", "order_items", "payments")  # counted in the ledger, day by day
_MONEY_COLUMNS = ("net_usd", "net_usd_excl_cancelled", "payments_amount_usd")


def build_manifest(
    params: Params,
    people: dict[str, pl.DataFrame],
    sources: Sources,
    ledger: pl.DataFrame,
    defects: pl.DataFrame,
) -> dict[str, Any]:
    """The manifest from the marked `people` (customers, products) and their `sources`, the daily
    `ledger` of the other tables, and every defect record."""
    days = ledger.select(pl.exclude("day").sum()).row(0, named=True)
    return {
        **params.to_json(),
        "defect_rates": {table: {kind.defect: kind.rate for kind in kinds_of(table)} for table in TABLES},
        "source_rows": {
            **{t: sources.rows[t] for t in PEOPLE},
            **{t: int(days[f"{t}_source"]) for t in DAILY},
        },
        "clean_rows": {
            **{t: present(people)[t].filter(~_quarantined(t)).height for t in PEOPLE},
            **{t: int(days[f"{t}_clean"]) for t in DAILY},
        },
        "defect_counts": _defect_counts(defects),
        "totals": {
            "net_revenue_usd": _money(days["net_usd"]),
            "net_revenue_usd_excl_cancelled": _money(days["net_usd_excl_cancelled"]),
            "fact_order_items": int(days["fact_order_items"]),
            "payments_amount_usd": _money(days["payments_amount_usd"]),
        },
        "deletes": deleted_keys(people),
    }


def day_ledger(params: Params, marked: dict[str, pl.DataFrame], first: int, end: int) -> pl.DataFrame:
    """Per day from `first` to `end` (excluded) of the marked orders, order lines and payments of
    those days (`day`: an order's, a payment's settlement day): rows written, clean rows, fact lines
    and the money totals. Days add up."""
    frame = pl.DataFrame({"day": range(first, end)}, schema={"day": pl.Int64})
    for table in DAILY:
        frame = frame.join(_row_counts(marked[table], table), on="day", how="left", maintain_order="left")
    for totals in _totals(marked, params, first):
        frame = frame.join(totals, on="day", how="left", maintain_order="left")
    zeros = [pl.col(c).fill_null(pl.lit(0).cast(MONEY)) for c in _MONEY_COLUMNS]
    return frame.with_columns(pl.exclude("day", *_MONEY_COLUMNS).fill_null(0), *zeros)


def _row_counts(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Rows written (a duplicate twice) and clean rows of each day."""
    return frame.group_by("day").agg(
        (pl.len() + (pl.col("defect") == "duplicate_row").sum()).alias(f"{table}_source"),
        (~_quarantined(table)).sum().alias(f"{table}_clean"),
    )


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


def _totals(marked: dict[str, pl.DataFrame], params: Params, first: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per order day: the fact's lines and net revenue (all, and without cancelled orders); per
    settlement day: the payments' amount."""
    orders = marked["orders"]
    held_back = orders.filter(_quarantined("orders")).select("order_id")
    day = pl.lit(params.start) + pl.duration(days=pl.col("day"))  # an order's day; a payment's settlement
    rates = daily_rates(
        params.start + timedelta(days=first), params.start + timedelta(days=params.days - 1), params.seed
    ).lazy()
    rate = pl.col("usd_rate")
    gross = (pl.col("unit_price").round(2).cast(MONEY) * pl.col("quantity")).cast(MONEY)
    discount = pl.col("discount").round(2).cast(MONEY)
    net = pl.col("net_usd")
    fact = (
        marked["order_items"]
        .lazy()
        .filter(~_quarantined("order_items"))
        .join(held_back.lazy(), on="order_id", how="anti")
        .select("order_id", "quantity", "unit_price", "discount")
        .join(orders.lazy().select("order_id", "status", "currency", "day"), on="order_id")
        .pipe(with_rate_of_day, rates, day)
        .select("day", "status", net_usd=to_usd(gross, rate) - to_usd(discount, rate))
        .group_by("day")
        .agg(
            pl.len().alias("fact_order_items"),
            net.sum(),
            net.filter(pl.col("status") != "cancelled").sum().alias("net_usd_excl_cancelled"),
        )
        .collect()
    )
    payments = (
        marked["payments"]
        .lazy()
        .filter(~_quarantined("payments"))
        .pipe(with_rate_of_day, rates, day)
        .group_by("day")
        .agg(payments_amount_usd=to_usd(pl.col("amount").cast(MONEY), rate).sum())
        .collect()
    )
    return fact, payments


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"
