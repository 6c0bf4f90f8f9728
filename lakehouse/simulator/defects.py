"""Defects injected into the written sources, and the ground truth that records each of them.

| table | defect | rate | handling | rule |
| --- | --- | --- | --- | --- |
| customers | duplicate_row | 1% | deduplicate | |
| customers | malformed_email | 1% | quarantine | `email:valid_email` |
| customers | missing_email | 0.5% | quarantine | `email:not_nullable` |
| products | missing_price | 2%, at least 1 | quarantine | `unit_price:not_nullable` |
| orders | duplicate_row | 0.5% | deduplicate | |
| orders | missing_customer | 0.3% | quarantine | `customer_id:not_nullable` |
| orders | lowercase_currency | 2% | normalise | |
| order_items | duplicate_row | 0.5% | deduplicate | |
| order_items | negative_quantity | 0.3% | quarantine | `quantity:positive_quantity` |
| order_items | unknown_product | 0.2% | quarantine | `product_id:known_product` |
| payments | duplicate_row | 0.5% | deduplicate | |
| payments | lowercase_currency | 1% | normalise | |
| payments | malformed_line | 0.2%, at least 1 | quarantine | `_rescued_data:well_formed_line` |

What they look like:

- duplicate_row: an exact extra copy of the row (for payments, the same line twice in its file);
- malformed_email: the `@` missing, doubled (`@@`), or a space inside (`first last1@...`);
- missing_email, missing_price, missing_customer: NULL `email`, `unit_price`, `customer_id`;
- lowercase_currency: `eur` for `EUR`;
- negative_quantity: `-quantity`;
- unknown_product: `9_000_000 + x`, a product id that never existed;
- malformed_line: `settled_at` missing (5 fields) or the amount written `12,50` (7 fields).

Rates are per row and per day: each day's rows draw their kind (or none) with that day's own
generator, `np.random.default_rng([seed, 100 + stream, day])`, so a row carries at most one
defect and a day's defects never depend on later days. Duplicates are exact copies of rows that
carry no other defect, written right after their original (a duplicated order keeps its copy
identical through its status update). A malformed line replaces its payment's line: that payment
is lost. Two kinds are forced so that every scale shows them: at least one product without a
price, and at least one malformed line in the second payment file (settled on day 2).

Each defect is recorded with its `table`, `key` (the id; `<order_id>-<line_no>` for order items;
`<file name>:<line number>` for a malformed line, the header being line 1), `defect`, `handling`,
`rule` (the quarantine rule expected to catch it) and `day` (the day the row was written).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from lakehouse.simulator.model import Stream, day_rng

TABLES = ("customers", "products", "orders", "order_items", "payments")
DEFECT_STREAM_OFFSET = 100
UNKNOWN_PRODUCT_BASE = 9_000_000


@dataclass(frozen=True)
class DefectKind:
    table: str
    defect: str
    rate: float
    handling: str
    rule: str | None = None
    forced_on_day: int | None = None  # at least one occurrence on this day, when it has rows


DEFECT_KINDS = (
    DefectKind("customers", "duplicate_row", 0.01, "deduplicate"),
    DefectKind("customers", "malformed_email", 0.01, "quarantine", "email:valid_email"),
    DefectKind("customers", "missing_email", 0.005, "quarantine", "email:not_nullable"),
    DefectKind("products", "missing_price", 0.02, "quarantine", "unit_price:not_nullable", forced_on_day=0),
    DefectKind("orders", "duplicate_row", 0.005, "deduplicate"),
    DefectKind("orders", "missing_customer", 0.003, "quarantine", "customer_id:not_nullable"),
    DefectKind("orders", "lowercase_currency", 0.02, "normalise"),
    DefectKind("order_items", "duplicate_row", 0.005, "deduplicate"),
    DefectKind("order_items", "negative_quantity", 0.003, "quarantine", "quantity:positive_quantity"),
    DefectKind("order_items", "unknown_product", 0.002, "quarantine", "product_id:known_product"),
    DefectKind("payments", "duplicate_row", 0.005, "deduplicate"),
    DefectKind("payments", "lowercase_currency", 0.01, "normalise"),
    DefectKind(
        "payments",
        "malformed_line",
        0.002,
        "quarantine",
        "_rescued_data:well_formed_line",
        forced_on_day=2,
    ),
)

# The business key of a row as text, as the defect manifest records it.
KEYS: dict[str, pl.Expr] = {
    "customers": pl.col("customer_id").cast(pl.String),
    "products": pl.col("product_id").cast(pl.String),
    "orders": pl.col("order_id").cast(pl.String),
    "order_items": pl.concat_str("order_id", pl.lit("-"), "line_no"),
    "payments": pl.col("payment_id"),
}
_STREAMS = {
    "customers": Stream.CUSTOMERS,
    "products": Stream.PRODUCTS,
    "orders": Stream.ORDERS,
    "order_items": Stream.ORDER_ITEMS,
    "payments": Stream.PAYMENTS,
}
DEFECTS_SCHEMA = {
    "table": pl.String,
    "key": pl.String,
    "defect": pl.String,
    "handling": pl.String,
    "rule": pl.String,
    "day": pl.Int64,
}
PAYMENT_FIELDS = ("payment_id", "order_id", "amount", "currency", "method", "settled_at")


def kinds_of(table: str) -> list[DefectKind]:
    return [kind for kind in DEFECT_KINDS if kind.table == table]


@dataclass(frozen=True)
class Sources:
    """What the source systems hold: the shop tables, the payment files and the ground truth."""

    tables: dict[str, pl.DataFrame]  # shop database tables, exactly as written (empty once written)
    payment_lines: pl.DataFrame  # file, day, line: the data lines of the settlement files
    defects: pl.DataFrame  # one row per injected defect, DEFECTS_SCHEMA
    rows: dict[str, int]  # rows written per table, the payment files' data lines as `payments`

    def written(self) -> Sources:
        """These sources once their tables are in the database: their rows are no longer held."""
        return replace(self, tables={})


def mark(world: dict[str, pl.DataFrame], seed: int, days: int) -> dict[str, pl.DataFrame]:
    """Each clean frame with the `defect` its row gets (null: none) and a `noise` draw."""
    return {table: _mark(frame, table, seed, days) for table, frame in world.items()}


def _mark(frame: pl.DataFrame, table: str, seed: int, days: int) -> pl.DataFrame:
    kinds = kinds_of(table)
    clean = len(kinds)  # the code of "no defect"
    rates = [kind.rate for kind in kinds]
    codes, noise = [], []
    counts = np.bincount(frame["day"].to_numpy(), minlength=days)
    first = int(frame["day"].min() or 0)  # a frame may hold a range of days: draw only theirs
    for day, size in enumerate(counts[first:], start=first):
        rng = day_rng(seed, DEFECT_STREAM_OFFSET + _STREAMS[table], day)
        code = rng.choice(clean + 1, size=size, p=[*rates, 1 - sum(rates)])
        for index, kind in enumerate(kinds):
            if kind.forced_on_day == day and size and not (code == index).any():
                candidates = np.flatnonzero(code == clean)
                code[rng.choice(candidates if len(candidates) else np.arange(size))] = index
        codes.append(code)
        noise.append(rng.integers(0, 1_000_000, size))  # picks a variant of the defect
    names = pl.Series([kind.defect for kind in kinds] + [None], dtype=pl.String)
    return frame.with_columns(defect=names.gather(np.concatenate(codes)), noise=np.concatenate(noise))


def corrupt(marked: dict[str, pl.DataFrame]) -> Sources:
    """Apply the marked defects: the sources as written, and the record of every defect. `marked`
    may hold any of the tables (the shop's people, or a range of days' orders and payments)."""
    shop = [table for table in _CORRUPTIONS if table in marked]
    tables = {table: _CORRUPTIONS[table](marked[table]) for table in shop}
    records = [_records(marked[table], table) for table in shop]
    payments = _payment_lines(marked["payments"]) if "payments" in marked else None
    if payments is not None:
        records.append(_payment_records(payments))
    defects = pl.concat(records).join(_kinds_frame(), on=["table", "defect"], maintain_order="left")
    written = {name: with_duplicates(frame).drop("day", "defect", "noise") for name, frame in tables.items()}
    rows = {table: frame.height for table, frame in written.items()}
    return Sources(
        tables=written,
        payment_lines=_NO_LINES if payments is None else payments.select("file", "day", "line"),
        defects=defects.select(list(DEFECTS_SCHEMA)).cast(DEFECTS_SCHEMA),
        rows=rows if payments is None else {**rows, "payments": payments.height},
    )


def _is(defect: str) -> pl.Expr:
    return pl.col("defect") == defect


def _corrupt_customers(frame: pl.DataFrame) -> pl.DataFrame:
    email, variant = pl.col("email"), pl.col("noise") % 3
    malformed = (
        pl.when(variant == 0)
        .then(email.str.replace("@", "", literal=True))
        .when(variant == 1)
        .then(email.str.replace("@", "@@", literal=True))
        .otherwise(email.str.replace(".", " ", literal=True))  # first.last -> first last
    )
    return frame.with_columns(
        email=pl.when(_is("malformed_email"))
        .then(malformed)
        .when(_is("missing_email"))
        .then(pl.lit(None, pl.String))
        .otherwise(email)
    )


def _corrupt_products(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(unit_price=pl.when(_is("missing_price")).then(None).otherwise("unit_price"))


def _corrupt_orders(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        customer_id=pl.when(_is("missing_customer")).then(None).otherwise("customer_id"),
        currency=_lowercase_currency(),
    )


def _corrupt_order_items(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        quantity=pl.when(_is("negative_quantity")).then(-pl.col("quantity")).otherwise("quantity"),
        product_id=pl.when(_is("unknown_product"))
        .then(UNKNOWN_PRODUCT_BASE + pl.col("noise"))
        .otherwise("product_id"),
    )


def _lowercase_currency() -> pl.Expr:
    currency = pl.col("currency")
    return pl.when(_is("lowercase_currency")).then(currency.str.to_lowercase()).otherwise(currency)


_CORRUPTIONS = {
    "customers": _corrupt_customers,
    "products": _corrupt_products,
    "orders": _corrupt_orders,
    "order_items": _corrupt_order_items,
}
_NO_LINES = pl.DataFrame(schema={"file": pl.String, "day": pl.Int64, "line": pl.String})


def _payment_lines(frame: pl.DataFrame) -> pl.DataFrame:
    """The files' data lines, numbered as in the file (the header is line 1)."""
    fields = [pl.col(name).cast(pl.String) for name in PAYMENT_FIELDS]
    amount_index = PAYMENT_FIELDS.index("amount")
    comma_decimal = fields.copy()
    comma_decimal[amount_index] = pl.col("amount").str.replace(".", ",", literal=True)
    malformed = (
        pl.when(pl.col("noise") % 2 == 0)
        .then(pl.concat_str(fields[:-1], separator=","))  # truncated: settled_at missing
        .otherwise(pl.concat_str(comma_decimal, separator=","))  # one field too many
    )
    return with_duplicates(frame.with_columns(currency=_lowercase_currency())).with_columns(
        line=pl.when(_is("malformed_line")).then(malformed).otherwise(pl.concat_str(fields, separator=",")),
        line_number=pl.int_range(pl.len()).over("day") + 2,
    )


def with_duplicates(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows marked `duplicate_row` twice in a row, the others once."""
    copies = 1 + frame["defect"].eq("duplicate_row").fill_null(False).cast(pl.Int64).to_numpy()
    return frame[np.repeat(np.arange(frame.height), copies)]


def _records(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    return frame.filter(pl.col("defect").is_not_null()).select(
        table=pl.lit(table), key=KEYS[table], defect="defect", day="day"
    )


def _payment_records(lines: pl.DataFrame) -> pl.DataFrame:
    """A malformed line is known by its place in its file; the other defects by payment id."""
    marked = lines.filter(pl.col("defect").is_not_null()).unique(
        "payment_id", keep="first", maintain_order=True
    )
    place = pl.concat_str("file", pl.lit(":"), "line_number")
    return marked.select(
        table=pl.lit("payments"),
        key=pl.when(_is("malformed_line")).then(place).otherwise(KEYS["payments"]),
        defect="defect",
        day="day",
    )


def _kinds_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "table": [kind.table for kind in DEFECT_KINDS],
            "defect": [kind.defect for kind in DEFECT_KINDS],
            "handling": [kind.handling for kind in DEFECT_KINDS],
            "rule": [kind.rule for kind in DEFECT_KINDS],
        },
        schema={"table": pl.String, "defect": pl.String, "handling": pl.String, "rule": pl.String},
    )
