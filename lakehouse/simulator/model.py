"""The shop's clean entities, generated day by day.

Every day's draws come from their own generator, `np.random.default_rng([seed, stream, day])`,
so a day's data depends only on (seed, scale, day), never on how many days are simulated. Only
the order lifecycle looks at the end of the simulation: an order placed on day d takes its final
status on day d + 2 once that day has been simulated.

Sizes at scale factor 1: 100k customers (half signed up during the year before day 0, half over
the simulated days), 10k products (all exist on day 0), 1M orders a year of 1-5 lines each. Money
is drawn in integer cents so that every derived amount (discounts, payment amounts) is exact.

Every frame carries a `day` column: the day its row was created, for payments the settlement day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import IntEnum

import numpy as np
import polars as pl

from lakehouse.lib.currency import USD_RATES
from lakehouse.simulator.clock import (
    MICROS_PER_DAY,
    day_start,
    local_time,
    utc_seconds,
    utc_system_time,
)

DAYS_PER_YEAR = 365
STATUS_DELAY_DAYS = 2
DISCOUNTED_LINE_SHARE = 0.2
MAX_LINES_PER_ORDER = 5


@dataclass(frozen=True)
class Country:
    currency: str
    utc_offset: str
    weight: float

    @property
    def offset_minutes(self) -> int:
        hours, minutes = self.utc_offset[1:].split(":")
        sign = -1 if self.utc_offset.startswith("-") else 1
        return sign * (int(hours) * 60 + int(minutes))


COUNTRIES: dict[str, Country] = {
    "US": Country("USD", "-05:00", 0.40),
    "DE": Country("EUR", "+01:00", 0.15),
    "FR": Country("EUR", "+01:00", 0.10),
    "GB": Country("GBP", "+00:00", 0.15),
    "CA": Country("CAD", "-05:00", 0.10),
    "AU": Country("AUD", "+10:00", 0.10),
}
CURRENCIES = list(USD_RATES)

# category -> (median USD price, product nouns)
CATEGORIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "electronics": (79.0, ("Headphones", "Speaker", "Charger", "Keyboard", "Monitor")),
    "books": (18.0, ("Novel", "Cookbook", "Atlas", "Biography", "Guide")),
    "home": (35.0, ("Lamp", "Vase", "Blanket", "Cushion", "Clock")),
    "garden": (30.0, ("Planter", "Hose", "Shears", "Lantern")),
    "sports": (40.0, ("Yoga Mat", "Dumbbell", "Racket", "Water Bottle")),
    "toys": (25.0, ("Puzzle", "Robot", "Doll", "Kite")),
    "beauty": (22.0, ("Serum", "Lotion", "Perfume", "Brush")),
    "clothing": (45.0, ("T-Shirt", "Jacket", "Scarf", "Sneakers")),
}
ADJECTIVES = ("Classic", "Compact", "Deluxe", "Eco", "Essential", "Premium", "Smart", "Vintage")
FIRST_NAMES = (
    "Alice", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Isla", "Jack",
    "Klara", "Leo", "Mia", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara",
    "Umar", "Vera", "Will", "Xenia", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Brown", "Clarke", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito",
    "Jones", "Keller", "Lambert", "Martin", "Nguyen", "Owen", "Patel", "Quinn", "Roux",
    "Smith", "Taylor", "Unger", "Vogel", "Walker", "Young", "Zimmer",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
CHANNELS: dict[str, float] = {"web": 0.55, "mobile": 0.35, "marketplace": 0.10}
FINAL_STATUSES: dict[str, float] = {"delivered": 0.93, "cancelled": 0.05, "returned": 0.02}
PAYMENT_METHODS: dict[str, float] = {"card": 0.70, "paypal": 0.20, "bank_transfer": 0.10}


class Stream(IntEnum):
    """Which random stream a draw comes from: one per table, so tables never shift each other."""

    CUSTOMERS = 1
    PRODUCTS = 2
    ORDERS = 3
    ORDER_ITEMS = 4
    PAYMENTS = 5


def day_rng(seed: int, stream: int, day: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(stream), day])


def per_day(per_year: int, days: int) -> np.ndarray:
    """Rows created on each day: the same cumulative rate every day, beyond 365 days too."""
    cumulative = per_year * np.arange(days + 1, dtype=np.int64) // DAYS_PER_YEAR
    return np.diff(cumulative)


def product_popularity(seed: int, scale: float) -> np.ndarray:
    """Each product's share of the order lines (index: product_id - 1); the start date plays no part."""
    return _draw_products(seed, Sizes.for_scale(scale).products, date.min)["popularity"]


@dataclass(frozen=True)
class Sizes:
    initial_customers: int
    new_customers_per_year: int
    products: int
    orders_per_year: int

    @classmethod
    def for_scale(cls, scale: float) -> Sizes:
        customers = max(2, round(100_000 * scale))
        return cls(
            initial_customers=customers // 2,
            new_customers_per_year=customers - customers // 2,
            products=max(len(CATEGORIES), round(10_000 * scale)),
            orders_per_year=max(1, round(1_000_000 * scale)),
        )

    def orders_before(self, day: int) -> int:
        """Orders placed before day `day` begins: the first order of that day is this + 1."""
        return self.orders_per_year * day // DAYS_PER_YEAR

    def customers_before(self, day: int) -> int:
        """Customers signed up before day `day` begins: the ones an order on that day picks from."""
        return self.initial_customers + self.new_customers_per_year * day // DAYS_PER_YEAR


def build_world(scale: float, seed: int, start: date, days: int) -> dict[str, pl.DataFrame]:
    """The clean truth, by table: every entity as the shop knows it at the end of the last day."""
    people = build_people(scale, seed, start, days)
    return {
        **people,
        **build_days(customer_countries(people["customers"]), scale, seed, start, days, 0, days),
    }


def build_people(scale: float, seed: int, start: date, days: int) -> dict[str, pl.DataFrame]:
    """The customers and products: small tables, always built whole (orders look up their customer)."""
    sizes = Sizes.for_scale(scale)
    customers = _draw_customers(seed, sizes, start, days)
    products = _draw_products(seed, sizes.products, start)
    return {"customers": _customer_frame(customers), "products": _product_frame(products)}


def build_days(
    country: np.ndarray, scale: float, seed: int, start: date, days: int, first: int, end: int
) -> dict[str, pl.DataFrame]:
    """The orders, order lines and payments of days `first` to `end` (excluded), as the shop knows
    them at the end of the simulation's `days` days: each day's draws, whatever the range.
    `country`: each customer's (`customer_countries`)."""
    sizes = Sizes.for_scale(scale)
    products = _draw_products(seed, sizes.products, start)
    since = max(first - 1, 0)  # a day's payments settle the orders of the day before
    orders = _draw_orders(seed, sizes, start, since, end)
    orders["country"] = country[orders["customer_id"] - 1]
    items = _draw_items(seed, since, end, orders, products)
    payments = _draw_payments(seed, start, first, end, orders, items)
    is_new = pl.col("day") >= first
    return {
        "orders": _order_frame(orders, days).filter(is_new),
        "order_items": _item_frame(items).filter(is_new),
        "payments": _payment_frame(payments, start),
    }


def customer_countries(customers: pl.DataFrame) -> np.ndarray:
    """Each customer's country index (index: customer_id - 1)."""
    codes = {code: index for index, code in enumerate(COUNTRIES)}
    return customers.get_column("country").replace_strict(codes, return_dtype=pl.Int64).to_numpy()


_COUNTRY_CODES = list(COUNTRIES)
_CURRENCY_OF_COUNTRY = np.array([CURRENCIES.index(c.currency) for c in COUNTRIES.values()])


def _choice(rng: np.random.Generator, weights: dict[str, float], size: int) -> np.ndarray:
    """Indices into `weights` drawn with its probabilities."""
    return rng.choice(len(weights), size=size, p=list(weights.values()))


def _pick(values: Sequence[str], index: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(index)


def _utc_offsets(country: np.ndarray) -> dict[str, pl.Series]:
    """The UTC offset of each country index, as minutes and as `+HH:MM` text."""
    offsets = [COUNTRIES[code] for code in _COUNTRY_CODES]
    return {
        "offset_minutes": pl.Series([c.offset_minutes for c in offsets]).gather(country),
        "offset_text": _pick([c.utc_offset for c in offsets], country),
    }


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _instants(rng: np.random.Generator, start: date, day: int, size: int, days: int = 1) -> np.ndarray:
    """`size` sorted random instants within `days` days from the start of day `day`."""
    return np.sort(day_start(start, day) + rng.integers(0, days * MICROS_PER_DAY, size))


def _draw_customers(seed: int, sizes: Sizes, start: date, days: int) -> dict[str, np.ndarray]:
    parts = []
    new = per_day(sizes.new_customers_per_year, days)
    for day in range(days):
        rng = day_rng(seed, Stream.CUSTOMERS, day)
        signup = _instants(rng, start, day, new[day])
        if day == 0:  # the customers who signed up during the year before the simulation
            before = _instants(rng, start, -DAYS_PER_YEAR, sizes.initial_customers, DAYS_PER_YEAR)
            signup = np.concatenate([before, signup])
        size = len(signup)
        parts.append(
            {
                "day": np.full(size, day),
                "signup": signup,
                "first_name": rng.integers(0, len(FIRST_NAMES), size),
                "last_name": rng.integers(0, len(LAST_NAMES), size),
                "country": _choice(rng, {k: c.weight for k, c in COUNTRIES.items()}, size),
                "domain": rng.integers(0, len(EMAIL_DOMAINS), size),
                # 0 lower case, 1 capitalised names, 2 upper case
                "case": rng.choice(3, size=size, p=[0.80, 0.15, 0.05]),
                # 0 none, 1 leading space, 2 trailing space, 3 both
                "padding": rng.choice(4, size=size, p=[0.90, 0.04, 0.04, 0.02]),
            }
        )
    return _concat(parts)


def _customer_frame(draws: dict[str, np.ndarray]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "customer_id": np.arange(1, len(draws["day"]) + 1),
            "first_name": _pick(FIRST_NAMES, draws["first_name"]),
            "last_name": _pick(LAST_NAMES, draws["last_name"]),
            "country": _pick(_COUNTRY_CODES, draws["country"]),
            **_utc_offsets(draws["country"]),
            "domain": _pick(EMAIL_DOMAINS, draws["domain"]),
            "case": draws["case"],
            "padding": draws["padding"],
            "signup": draws["signup"],
            "day": draws["day"],
        }
    )
    return frame.select(
        "customer_id",
        _email().alias("email"),
        "first_name",
        "last_name",
        "country",
        local_time(pl.col("signup"), pl.col("offset_minutes"), pl.col("offset_text")).alias("signup_at"),
        utc_system_time(pl.col("signup")).alias("updated_at"),
        "day",
    )


def _email() -> pl.Expr:
    """`first.last<id>@domain`, in the case and with the stray spaces people type."""
    address = pl.concat_str("first_name", pl.lit("."), "last_name", "customer_id", pl.lit("@"), "domain")
    case = pl.col("case")
    cased = (
        pl.when(case == 0)
        .then(address.str.to_lowercase())
        .when(case == 1)
        .then(address)
        .otherwise(address.str.to_uppercase())
    )
    padding = pl.col("padding")
    return (
        pl.when(padding == 1)
        .then(pl.lit(" ") + cased)
        .when(padding == 2)
        .then(cased + pl.lit(" "))
        .when(padding == 3)
        .then(pl.lit("  ") + cased + pl.lit(" "))
        .otherwise(cased)
    )


def _draw_products(seed: int, size: int, start: date) -> dict[str, np.ndarray]:
    """The whole catalogue, on day 0; every category gets at least one product."""
    rng = day_rng(seed, Stream.PRODUCTS, 0)
    category = rng.permutation(np.arange(size) % len(CATEGORIES))
    medians = np.array([median for median, _ in CATEGORIES.values()])
    dollars = np.maximum(1.0, np.rint(medians[category] * rng.lognormal(0.0, 0.5, size)))
    noun_counts = np.array([len(nouns) for _, nouns in CATEGORIES.values()])
    noun_offsets = np.cumsum(noun_counts) - noun_counts
    noun = noun_offsets[category] + rng.integers(0, 1 << 30, size) % noun_counts[category]
    popularity = 1.0 / (rng.permutation(size) + 1.0) ** 0.8
    return {
        "category": category,
        "usd_cents": dollars.astype(np.int64) * 100 - 1,  # prices end in .99
        "adjective": rng.integers(0, len(ADJECTIVES), size),
        "noun": noun,
        "popularity": popularity / popularity.sum(),
        "updated": _instants(rng, start, -DAYS_PER_YEAR, size, DAYS_PER_YEAR),
    }


def _product_frame(draws: dict[str, np.ndarray]) -> pl.DataFrame:
    categories = list(CATEGORIES)
    nouns = [noun for _, category_nouns in CATEGORIES.values() for noun in category_nouns]
    size = len(draws["category"])
    return pl.DataFrame(
        {
            "product_id": np.arange(1, size + 1),
            "prefix": _pick([c[:3].upper() for c in categories], draws["category"]),
            "name": _pick(ADJECTIVES, draws["adjective"]) + " " + _pick(nouns, draws["noun"]),
            "category": _pick(categories, draws["category"]),
            "unit_price": draws["usd_cents"] / 100,
            "updated": draws["updated"],
        }
    ).select(
        "product_id",
        pl.concat_str("prefix", pl.lit("-"), pl.col("product_id").cast(pl.String).str.zfill(6)).alias("sku"),
        "name",
        "category",
        "unit_price",
        utc_system_time(pl.col("updated")).alias("updated_at"),
        day=pl.lit(0, pl.Int64),
    )


def _draw_orders(seed: int, sizes: Sizes, start: date, first: int, end: int) -> dict[str, np.ndarray]:
    parts = []
    counts = per_day(sizes.orders_per_year, end)
    for day in range(first, end):
        rng = day_rng(seed, Stream.ORDERS, day)
        size = counts[day]
        parts.append(
            {
                "day": np.full(size, day),
                "placed": _instants(rng, start, day, size),
                "customer_id": rng.integers(1, sizes.customers_before(day) + 1, size),
                "channel": _choice(rng, CHANNELS, size),
                "fate": _choice(rng, FINAL_STATUSES, size),
                "fulfilled": day_start(start, day + STATUS_DELAY_DAYS)
                + rng.integers(0, MICROS_PER_DAY, size),
            }
        )
    orders = _concat(parts)
    before = sizes.orders_before(first)
    orders["order_id"] = np.arange(before + 1, before + len(orders["day"]) + 1)
    return orders


def _order_frame(draws: dict[str, np.ndarray], days: int) -> pl.DataFrame:
    """Orders as of the last simulated day: `placed`, or their final status two days later."""
    final = draws["day"] + STATUS_DELAY_DAYS <= days - 1
    frame = pl.DataFrame(
        {
            "order_id": draws["order_id"],
            "customer_id": draws["customer_id"],
            "placed": draws["placed"],
            **_utc_offsets(draws["country"]),
            "status": _pick(list(FINAL_STATUSES), draws["fate"]),
            "final": final,
            "currency": _pick(CURRENCIES, _CURRENCY_OF_COUNTRY[draws["country"]]),
            "channel": _pick(list(CHANNELS), draws["channel"]),
            "updated": np.where(final, draws["fulfilled"], draws["placed"]),
            "day": draws["day"],
        }
    )
    return frame.select(
        "order_id",
        "customer_id",
        local_time(pl.col("placed"), pl.col("offset_minutes"), pl.col("offset_text")).alias("order_at"),
        pl.when("final").then("status").otherwise(pl.lit("placed")).alias("status"),
        "currency",
        "channel",
        utc_system_time(pl.col("updated")).alias("updated_at"),
        "day",
    )


def _draw_items(
    seed: int, first: int, end: int, orders: dict[str, np.ndarray], products: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    lines, parts = [], []
    for day, size in enumerate(np.bincount(orders["day"], minlength=end)[first:], start=first):
        rng = day_rng(seed, Stream.ORDER_ITEMS, day)
        lines.append(rng.integers(1, MAX_LINES_PER_ORDER + 1, size))
        total = int(lines[-1].sum())
        parts.append(
            {
                "product": rng.choice(len(products["usd_cents"]), total, p=products["popularity"]),
                "quantity": np.minimum(rng.geometric(0.6, total), 9),
                "discounted": rng.random(total) < DISCOUNTED_LINE_SHARE,
            }
        )
    items = _concat(parts)
    line_counts = np.concatenate(lines)
    order = np.repeat(np.arange(len(line_counts)), line_counts)  # index of each line's order
    first_line = np.cumsum(line_counts) - line_counts
    rates = np.array([float(USD_RATES[currency]) for currency in CURRENCIES])
    currency = _CURRENCY_OF_COUNTRY[orders["country"][order]]
    unit_cents = np.rint(products["usd_cents"][items["product"]] / rates[currency]).astype(np.int64)
    gross = items["quantity"] * unit_cents
    discount = np.where(items["discounted"], (gross + 5) // 10, 0)  # 10 %, rounded half up
    return {
        "order_id": orders["order_id"][order],
        "line_no": np.arange(len(order)) - first_line[order] + 1,
        "product_id": items["product"] + 1,
        "quantity": items["quantity"],
        "unit_cents": unit_cents,
        "discount_cents": discount,
        "net_cents": gross - discount,
        "placed": orders["placed"][order],
        "day": orders["day"][order],
    }


def _item_frame(draws: dict[str, np.ndarray]) -> pl.DataFrame:
    return (
        pl.DataFrame(
            {
                "order_id": draws["order_id"],
                "line_no": draws["line_no"],
                "product_id": draws["product_id"],
                "quantity": draws["quantity"].astype(np.int64),
                "unit_price": draws["unit_cents"] / 100,
                "discount": draws["discount_cents"] / 100,
                "placed": draws["placed"],
                "day": draws["day"],
            }
        )
        .with_columns(utc_system_time(pl.col("placed")).alias("updated_at"))
        .select(
            "order_id", "line_no", "product_id", "quantity", "unit_price", "discount", "updated_at", "day"
        )
    )


def _draw_payments(
    seed: int,
    start: date,
    first: int,
    end: int,
    orders: dict[str, np.ndarray],
    items: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """One payment per order, settled on the day after the order: none on day 0. `orders` and
    `items` begin on day `first - 1` (or 0)."""
    orders_per_day = np.bincount(orders["day"], minlength=end)
    settled_per_day = np.concatenate([[0], orders_per_day[:-1]])
    parts = []
    for day, size in enumerate(settled_per_day[first:end], start=first):
        rng = day_rng(seed, Stream.PAYMENTS, day)
        parts.append(
            {
                "day": np.full(size, day),
                "method": _choice(rng, PAYMENT_METHODS, size),
                "settled": day_start(start, day) + rng.integers(0, MICROS_PER_DAY, size),
            }
        )
    payments = _concat(parts)
    paid = len(payments["day"])  # orders are sorted by day from first - 1: the paid ones come first
    first_id = orders["order_id"][0] if len(orders["order_id"]) else 1
    amounts = np.bincount(items["order_id"] - first_id, weights=items["net_cents"], minlength=paid)
    payments["order_id"] = orders["order_id"][:paid]
    payments["currency"] = _CURRENCY_OF_COUNTRY[orders["country"][:paid]]
    payments["amount_cents"] = amounts[:paid].astype(np.int64)  # sums of integers: exact
    return payments


def _payment_frame(draws: dict[str, np.ndarray], start: date) -> pl.DataFrame:
    """Payments in file order (by settlement time), each with the name of its day's file."""
    cents = pl.col("amount_cents")
    settlement_date = pl.lit(start) + pl.duration(days=pl.col("day"))
    return (
        pl.DataFrame(
            {
                "day": draws["day"],
                "order_id": draws["order_id"],
                "amount_cents": draws["amount_cents"],
                "currency": _pick(CURRENCIES, draws["currency"]),
                "method": _pick(list(PAYMENT_METHODS), draws["method"]),
                "settled": draws["settled"],
            }
        )
        .sort("day", "settled", maintain_order=True)
        .select(
            pl.concat_str(
                pl.lit("settlement_"), settlement_date.dt.strftime("%Y-%m-%d"), pl.lit(".csv")
            ).alias("file"),
            "day",
            pl.concat_str(pl.lit("pay_"), pl.col("order_id").cast(pl.String).str.zfill(9)).alias(
                "payment_id"
            ),
            "order_id",
            pl.concat_str(
                (cents // 100).cast(pl.String),
                pl.lit("."),
                (cents % 100).cast(pl.String).str.zfill(2),
            ).alias("amount"),
            "currency",
            "method",
            utc_seconds(pl.col("settled")).alias("settled_at"),
        )
    )
