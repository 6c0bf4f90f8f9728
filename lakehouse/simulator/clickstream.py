"""Clickstream events of the simulated shop, and how they reach the landing zone.

Sessions, day by day (draws from `np.random.default_rng([seed, CLICKSTREAM_STREAM, day])`):

- only visitors who consent to analytics are tracked: `TRACKED_SHARE` of the orders placed on day
  d come with the session that placed it: the home page, for each order line its product page
  then `add_to_cart` (with the line's quantity), `checkout`, and `purchase` (with the order id) at
  the order's time, by the order's customer and channel;
- `BROWSE_SESSIONS_PER_ORDER` browsing sessions per tracked order, starting anywhere in the day: 1-8
  product page views, sometimes an abandoned cart (`add_to_cart` of the last product viewed),
  sometimes an abandoned checkout. 40 % are known customers (signed up before that day), the
  others anonymous visitors (`anonymous_id`, one per session, `customer_id` null).

Consecutive events of a session are 10 s to 5 min apart, and a session starts and ends on its day
(a purchase session that would start before midnight is compressed), so a day's events depend
only on (seed, scale, day).

Delivery: the collector writes the events it received in each `BATCH_HOURS` window of *arrival*
time as one newline-delimited JSON file, `landing/clickstream/<YYYY-MM-DD>/batch-NNNN.jsonl`
(NNNN = the window of the day), lines in arrival order. An event normally arrives when it happens.
Defects, drawn per event with `np.random.default_rng([seed, 100 + CLICKSTREAM_STREAM, day])`:

| defect | rate | arrival | handling |
| --- | --- | --- | --- |
| duplicate_event | 1% | once on time, once more in the next batch (same `event_id`) | deduplicate |
| out_of_order | 2% | 1-10 min late | accept |
| late_event | 0.5% | 10-100 min late, within the lateness window | accept |
| very_late_event | 0.2% | 1-2 days late, beyond the window | quarantine (`event_at:within_lateness`) |

The lateness window is the one refined declares: an event is beyond it when its time is more than
`LATENESS` older than the newest event time of the batches before its own. A late event arrives
less than `LATENESS` after it happened, so it is always within; a duplicate's copy arrives in the
next batch but less than `LATENESS` after the event, so it is never beyond. A very late event is
recorded as `very_late_event` only when it is beyond the window by that rule (otherwise as a
`late_event`), so the ground truth is exact even for a tiny shop with quiet days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from lakehouse.simulator.clock import MICROS_PER_DAY, day_start
from lakehouse.simulator.defects import DEFECT_STREAM_OFFSET, DEFECTS_SCHEMA, DefectKind
from lakehouse.simulator.model import CHANNELS, Sizes, day_rng

CLICKSTREAM_STREAM = 6  # the model's tables draw from streams 1-5
BATCH_HOURS = 2
BATCHES_PER_DAY = 24 // BATCH_HOURS
LATENESS = timedelta(hours=2)  # the window refined/events declares (a test holds them equal)
SESSION_GAP = timedelta(minutes=30)  # inactivity that ends a session

TRACKED_SHARE = 0.25  # of orders (analytics consent): keeps the stream about 4x the order lines
BROWSE_SESSIONS_PER_ORDER = 2
CUSTOMER_SHARE = 0.4  # of browsing sessions
CART_SHARE = 0.3  # browsing sessions that add to cart
CHECKOUT_SHARE = 0.3  # of those, the ones that reach checkout
MAX_VIEWS = 8

EVENT_FIELDS = (
    "event_id",
    "event_type",
    "event_at",
    "customer_id",
    "anonymous_id",
    "channel",
    "page",
    "product_id",
    "quantity",
    "order_id",
)
EVENT_TYPES = ("page_view", "add_to_cart", "checkout", "purchase")
PAGE_VIEW, ADD_TO_CART, CHECKOUT, PURCHASE = range(4)

CHUNK_DAYS = 30  # days of events generated and delivered at a time

_MS = 1_000  # microseconds
_MINUTE = 60_000 * _MS
_BATCH_MICROS = BATCH_HOURS * 60 * _MINUTE
_LATENESS_MICROS = int(LATENESS.total_seconds()) * 1_000_000
_NO_HIGH_WATER = np.iinfo(np.int64).min + _LATENESS_MICROS  # before the first batch: nothing is beyond
_GAP_MS = (10_000, 300_000)  # between consecutive events of a session
_GAP_MICROS = int(SESSION_GAP.total_seconds()) * 1_000_000
_LATEST_ARRIVAL = 2 * MICROS_PER_DAY  # an event arrives less than this after it happens
_NO_CUTOFF, _NO_END = np.iinfo(np.int64).min, np.iinfo(np.int64).max

CLICKSTREAM_DEFECT_KINDS = (
    DefectKind("events", "duplicate_event", 0.01, "deduplicate"),
    DefectKind("events", "out_of_order", 0.02, "accept"),
    DefectKind("events", "late_event", 0.005, "accept"),
    DefectKind("events", "very_late_event", 0.002, "quarantine", "event_at:within_lateness"),
)
# arrival delay of each drawn kind (microseconds, low inclusive, high exclusive)
_DELAYS = {
    "out_of_order": (1 * _MINUTE, 10 * _MINUTE),
    "late_event": (10 * _MINUTE, 100 * _MINUTE),
    "very_late_event": (24 * 60 * _MINUTE, 48 * 60 * _MINUTE),
}


@dataclass(frozen=True)
class Clickstream:
    """The micro-batch lines written for the first `days` days, and their ground truth."""

    lines: pl.DataFrame  # day, batch, file, arrival, defect, copy + EVENT_FIELDS (typed), if kept
    defects: pl.DataFrame  # DEFECTS_SCHEMA, one row per injected defect written
    truth: dict[str, Any]  # the manifest's `clickstream` entry


class Collector:
    """The collector, fed range of days after range of days (from day 0, without gaps): it
    delivers the lines of the batch files of the range's arrival days and tallies the truth.

    An event arrives on its own day or later (a very late one two days later, a duplicate's copy
    in the next batch): the lines that arrive after the range wait for the next one, and the
    newest event time of the batches delivered (the lateness window's high water) carries over.
    Everything it carries (`carried`) is bounded by a few days of events, whatever the history.
    """

    def __init__(
        self,
        waiting: pl.DataFrame | None = None,
        high_water: int = _NO_HIGH_WATER,
        tally: Tally | None = None,
    ) -> None:
        self.waiting = waiting
        self.high_water = high_water
        self.tally = tally or Tally()

    def deliver(
        self,
        orders: pl.DataFrame,
        items: pl.DataFrame,
        scale: float,
        seed: int,
        start: date,
        first: int,
        end: int,
    ) -> pl.DataFrame:
        """The lines of the batch files of arrival days `first` to `end` (excluded), in file order,
        from the orders and order lines (the world's) of those days."""
        order_arrays, item_arrays, sizes = _order_arrays(orders), _item_arrays(items), Sizes.for_scale(scale)
        draws = [_day_events(order_arrays, item_arrays, sizes, seed, start, day) for day in range(first, end)]
        arrivals = _arrivals(_frame(_concat(draws)), start)
        if self.waiting is not None:
            arrivals = pl.concat([self.waiting, arrivals])
        self.waiting = arrivals.filter(pl.col("day") >= end)
        lines, self.high_water = _deliver(arrivals.filter(pl.col("day") < end), start, self.high_water)
        self.tally.add(lines, day_start(start, end))
        return lines

    def carried(self) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
        """What the next range needs: frames, and values for JSON."""
        frames = {"waiting": self.waiting, **self.tally.frames()}
        return frames, {"high_water": self.high_water, **self.tally.values()}

    @classmethod
    def resumed(cls, frames: dict[str, pl.DataFrame], values: dict[str, Any]) -> Collector:
        return cls(frames["waiting"], values["high_water"], Tally.resumed(frames, values))


def build_clickstream(
    world: dict[str, pl.DataFrame], scale: float, seed: int, start: date, days: int
) -> Clickstream:
    """The clickstream of the first `days` days, every line kept: for a small simulation."""
    collector = Collector()
    lines = pl.concat(
        collector.deliver(world["orders"], world["order_items"], scale, seed, start, first, end)
        for first, end in day_ranges(0, days, CHUNK_DAYS)
    )
    return Clickstream(lines, collector.tally.defects(), collector.tally.truth())


def day_ranges(first: int, end: int, size: int) -> list[tuple[int, int]]:
    """[first, end) cut into ranges of `size` days."""
    return [(low, min(low + size, end)) for low in range(first, end, size)]


Arrays = dict[str, np.ndarray]


def _order_arrays(orders: pl.DataFrame) -> Arrays:
    """The orders' columns the sessions need, as arrays sorted by day (as the world is)."""
    channels = {name: index for index, name in enumerate(CHANNELS)}
    columns = orders.select(
        "order_id",
        "customer_id",
        "day",
        placed=pl.col("order_at").str.to_datetime("%Y-%m-%dT%H:%M:%S%z").dt.epoch("us"),
        channel=pl.col("channel").replace_strict(channels, return_dtype=pl.Int64),
    )
    return {name: columns.get_column(name).to_numpy() for name in columns.columns}


def _item_arrays(items: pl.DataFrame) -> Arrays:
    return {name: items.get_column(name).to_numpy() for name in ("order_id", "product_id", "quantity", "day")}


def _of_day(arrays: Arrays, day: int) -> Arrays:
    low, high = np.searchsorted(arrays["day"], [day, day + 1])
    return {name: values[low:high] for name, values in arrays.items()}


def _concat(parts: list[Arrays]) -> Arrays:
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _day_events(orders: Arrays, items: Arrays, sizes: Sizes, seed: int, start: date, day: int) -> Arrays:
    """Day `day`'s events (purchase sessions, then browsing sessions) with their defects."""
    rng = day_rng(seed, CLICKSTREAM_STREAM, day)
    todays_orders = _of_day(orders, day)
    tracked = rng.random(len(todays_orders["order_id"])) < TRACKED_SHARE
    tracked_orders = {name: values[tracked] for name, values in todays_orders.items()}
    todays_items = _of_day(items, day)
    of_tracked = np.isin(todays_items["order_id"], tracked_orders["order_id"])
    tracked_items = {name: values[of_tracked] for name, values in todays_items.items()}
    purchases = _purchase_sessions(rng, tracked_orders, tracked_items, start, day)
    browsing = _browse_sessions(rng, sizes, int(tracked.sum()), start, day)
    events = _concat([purchases, browsing])
    size = len(events["kind"])
    events |= {"day": np.full(size, day), "number": np.arange(size)}
    return events | _draw_defects(day_rng(seed, DEFECT_STREAM_OFFSET + CLICKSTREAM_STREAM, day), size)


def _positions(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sessions of `counts` events: each event's session index and position in it."""
    session = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    return session, np.arange(len(session)) - first[session]


def _offsets(rng: np.random.Generator, session: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Microseconds since the session's first event: gaps of 10 s to 5 min, whole milliseconds."""
    gaps = np.where(position == 0, 0, rng.integers(*_GAP_MS, len(session)))
    offsets = np.cumsum(gaps)
    first = np.flatnonzero(position == 0)
    return (offsets - offsets[first][session]) * _MS


def _purchase_sessions(
    rng: np.random.Generator, orders: Arrays, items: Arrays, start: date, day: int
) -> Arrays:
    """The session behind each order: home, per line (product page, add to cart), checkout, purchase."""
    lines = np.bincount(
        np.searchsorted(orders["order_id"], items["order_id"]), minlength=len(orders["order_id"])
    )
    counts = 3 + 2 * lines
    session, position = _positions(counts)
    last = 2 * lines[session]
    kind = np.select(
        [position == 0, position <= last, position == last + 1],
        [PAGE_VIEW, np.where(position % 2 == 1, PAGE_VIEW, ADD_TO_CART), CHECKOUT],
        PURCHASE,
    )
    on_line = (position >= 1) & (position <= last)
    item = np.where(on_line, (np.cumsum(lines) - lines)[session] + (position - 1) // 2, 0)
    placed = orders["placed"][session]
    offsets = _offsets(rng, session, position)
    span = offsets[np.cumsum(counts) - 1][session]
    # A session that would start before its day is compressed: it must not reach an earlier batch.
    room = placed - day_start(start, day)
    shrink = np.where(span > room, room / np.maximum(span, 1), 1.0)
    begin = placed - np.minimum(span, room)
    at = np.where(kind == PURCHASE, placed, (begin + offsets * shrink).astype(np.int64) // _MS * _MS)
    return {
        "kind": kind,
        "at": at,
        "customer": orders["customer_id"][session],
        "anonymous": np.zeros(len(session), dtype=np.int64),
        "channel": orders["channel"][session],
        "product": np.where(on_line, items["product_id"][item], 0),
        "quantity": np.where(on_line & (kind == ADD_TO_CART), items["quantity"][item], 0),
        "order": np.where(kind == PURCHASE, orders["order_id"][session], 0),
    }


def _browse_sessions(rng: np.random.Generator, sizes: Sizes, orders: int, start: date, day: int) -> Arrays:
    size = BROWSE_SESSIONS_PER_ORDER * orders
    views = np.minimum(rng.geometric(0.35, size), MAX_VIEWS)
    cart = rng.random(size) < CART_SHARE
    checkout = cart & (rng.random(size) < CHECKOUT_SHARE)
    counts = views + cart + checkout
    session, position = _positions(counts)
    kind = np.select(
        [position < views[session], position == views[session]], [PAGE_VIEW, ADD_TO_CART], CHECKOUT
    )
    drawn = rng.integers(1, sizes.products + 1, len(session))
    # add to cart: the product of the page viewed just before
    product = np.select([kind == PAGE_VIEW, kind == ADD_TO_CART], [drawn, np.roll(drawn, 1)], 0)
    offsets = _offsets(rng, session, position)
    span = offsets[np.cumsum(counts) - 1]
    begin = day_start(start, day) + (rng.random(size) * (MICROS_PER_DAY - span)).astype(np.int64)
    known = rng.random(size) < CUSTOMER_SHARE
    customer = np.where(known, rng.integers(1, sizes.customers_before(day) + 1, size), 0)
    visitor = np.where(known, 0, day * 1_000_000 + np.arange(1, size + 1))  # one per session
    channel = rng.choice(len(CHANNELS), size, p=list(CHANNELS.values()))
    return {
        "kind": kind,
        "at": (begin[session] + offsets) // _MS * _MS,
        "customer": customer[session],
        "anonymous": visitor[session],
        "channel": channel[session],
        "product": product,
        "quantity": (kind == ADD_TO_CART).astype(np.int64),
        "order": np.zeros(len(session), dtype=np.int64),
    }


def _draw_defects(rng: np.random.Generator, size: int) -> Arrays:
    """Each event's defect code (len(kinds): none), arrival delay (microseconds) and a uniform draw."""
    kinds = CLICKSTREAM_DEFECT_KINDS
    rates = [kind.rate for kind in kinds]
    code = rng.choice(len(kinds) + 1, size=size, p=[*rates, 1 - sum(rates)])
    unit = rng.random(size)
    low = np.array([_DELAYS.get(kind.defect, (0, 0))[0] for kind in kinds] + [0])
    high = np.array([_DELAYS.get(kind.defect, (0, 0))[1] for kind in kinds] + [0])
    delay = low[code] + (unit * (high - low)[code]).astype(np.int64)
    return {"defect": code, "delay": delay, "unit": unit}


def _frame(events: Arrays) -> pl.DataFrame:
    """The events as typed columns; 0 stands for a missing id or quantity."""

    def optional(name: str) -> pl.Series:
        return pl.Series(events[name], dtype=pl.Int64).replace(0, None)

    kind = events["kind"]
    defects = [k.defect for k in CLICKSTREAM_DEFECT_KINDS]
    frame = pl.DataFrame(
        {
            "day": events["day"],
            "number": events["number"],
            "event_type": pl.Series(EVENT_TYPES, dtype=pl.String).gather(kind),
            "at": events["at"],
            "customer_id": optional("customer"),
            "visitor": optional("anonymous"),
            "channel": pl.Series(list(CHANNELS), dtype=pl.String).gather(events["channel"]),
            "fixed_page": pl.Series(["/", "/cart", "/checkout", "/checkout/confirmation"]).gather(kind),
            "product_id": optional("product"),
            "quantity": optional("quantity"),
            "order_id": optional("order"),
            "defect": pl.Series([*defects, None], dtype=pl.String).gather(events["defect"]),
            "delay": events["delay"],
            "unit": events["unit"],
        }
    )
    product_page = (pl.col("event_type") == "page_view") & pl.col("product_id").is_not_null()
    return frame.select(
        pl.format(
            "ev-{}-{}",
            pl.col("day").cast(pl.String).str.zfill(5),
            pl.col("number").cast(pl.String).str.zfill(7),
        ).alias("event_id"),
        "event_type",
        "at",
        "customer_id",
        ("anon-" + pl.col("visitor").cast(pl.String).str.zfill(11)).alias("anonymous_id"),
        "channel",
        pl.when(product_page)
        .then(pl.format("/products/{}", "product_id"))
        .otherwise("fixed_page")
        .alias("page"),
        "product_id",
        "quantity",
        "order_id",
        "defect",
        "delay",
        "unit",
    )


def _arrivals(events: pl.DataFrame, start: date) -> pl.DataFrame:
    """Every line the collector receives (originals and duplicates' copies), with its arrival
    time, batch and day (of arrival)."""
    origin = day_start(start, 0)
    batch = (pl.col("arrival") - origin) // _BATCH_MICROS
    originals = events.with_columns(arrival=pl.col("at") + pl.col("delay"), copy=pl.lit(False))
    # A duplicate's copy: in the next batch, less than LATENESS after the event.
    next_batch = origin + ((pl.col("at") - origin) // _BATCH_MICROS + 1) * _BATCH_MICROS
    room = pl.col("at") + _LATENESS_MICROS - next_batch
    copies = events.filter(pl.col("defect") == "duplicate_event").with_columns(
        arrival=next_batch + (pl.col("unit") * room).cast(pl.Int64), copy=pl.lit(True)
    )
    return (
        pl.concat([originals, copies])
        .with_columns(batch=batch)
        .with_columns(day=pl.col("batch") // BATCHES_PER_DAY)
        .drop("delay", "unit")
    )


def _deliver(arrivals: pl.DataFrame, start: date, high_water: int) -> tuple[pl.DataFrame, int]:
    """The lines of some consecutive days' batch files in arrival order, with their file; and the
    high water after them. `high_water`: the newest event time of the batches before them."""
    lines = arrivals.sort("arrival", "event_id", "copy")
    before = _high_water(lines, high_water)
    beyond = lines.get_column("at").to_numpy() < before - _LATENESS_MICROS
    late_kind = pl.when(pl.Series(beyond)).then(pl.lit("very_late_event")).otherwise(pl.lit("late_event"))
    delivered = lines.with_columns(
        defect=pl.when(pl.col("defect") == "very_late_event").then(late_kind).otherwise("defect"),
        file=pl.format(
            "{}/batch-{}.jsonl",
            (pl.lit(start) + pl.duration(days=pl.col("day"))).dt.strftime("%Y-%m-%d"),
            (pl.col("batch") % BATCHES_PER_DAY).cast(pl.String).str.zfill(4),
        ),
        event_at=pl.from_epoch("at", time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
    )
    newest = lines.get_column("at").max()
    return delivered, high_water if newest is None else max(high_water, int(newest))


def _high_water(lines: pl.DataFrame, initial: int) -> np.ndarray:
    """For each line (sorted by batch): the newest event time of the batches before its own,
    `initial` (that of the batches before these lines) included."""
    batch = lines.get_column("batch").to_numpy()
    at = lines.get_column("at").to_numpy()
    if not len(at):
        return at
    starts = np.flatnonzero(np.diff(batch, prepend=batch[0] - 1))  # first line of each batch
    batch_max = np.maximum.accumulate(np.maximum(np.maximum.reduceat(at, starts), initial))
    before = np.concatenate([[initial], batch_max[:-1]])
    return np.repeat(before, np.diff(np.append(starts, len(at))))


def _defect_records(lines: pl.DataFrame) -> pl.DataFrame:
    """One record per defect written: a duplicate when its copy is, a late event when it arrives."""
    kinds = pl.DataFrame(
        [(k.defect, k.handling, k.rule) for k in CLICKSTREAM_DEFECT_KINDS],
        schema={"defect": pl.String, "handling": pl.String, "rule": pl.String},
        orient="row",
    )
    recorded = lines.filter(
        pl.when(pl.col("defect") == "duplicate_event").then("copy").otherwise(pl.col("defect").is_not_null())
    )
    return (
        recorded.select(table=pl.lit("events"), key="event_id", defect="defect", day="day")
        .join(kinds, on="defect", maintain_order="left")
        .select(list(DEFECTS_SCHEMA))
        .cast(DEFECTS_SCHEMA)
    )


def accepted_events(lines: pl.DataFrame) -> pl.DataFrame:
    """The events a correct refined table holds: each written event once, none beyond the window."""
    return lines.filter(~pl.col("copy"), pl.col("defect").fill_null("") != "very_late_event")


def session_keys(events: pl.DataFrame) -> pl.DataFrame:
    """user, at: what counting sessions needs of each event, as integers (a customer by its id, an
    anonymous visitor by minus its number): a sixteenth of the events' memory."""
    visitor = pl.col("anonymous_id").str.strip_prefix("anon-").cast(pl.Int64)
    return events.select(user=pl.coalesce("customer_id", -visitor), at="at")


def count_sessions(keys: pl.DataFrame) -> int:
    """Sessions among events (`session_keys`): per user, a gap over SESSION_GAP splits."""
    return _session_starts(keys, _NO_CUTOFF, _NO_END)


class Tally:
    """The ground truth of the lines delivered so far, added range by range.

    Sessions are counted as they become final: an accepted event arrives less than
    `_LATEST_ARRIVAL` after it happens, so once the lines arriving before instant T are delivered,
    every event before T - `_LATEST_ARRIVAL` is known and so is whether it starts a session (that
    depends only on the same user's previous event). Only the events from `SESSION_GAP` before
    that cut-off on are kept (`tail`), so the memory does not grow with the history.
    """

    def __init__(self) -> None:
        self.batches = self.lines = self.events = self.accepted = self.sessions = 0
        self.counted_to = _NO_CUTOFF  # sessions starting before this instant are in `sessions`
        self.tail = pl.DataFrame(schema={"user": pl.Int64, "at": pl.Int64})  # session keys from then on
        self.records: list[pl.DataFrame] = []  # defect records

    def add(self, lines: pl.DataFrame, delivered_to: int) -> None:
        """Tally `lines`, the lines arriving before instant `delivered_to` not tallied yet."""
        # A batch's lines are all in one range; an event's original is written before its copy.
        self.batches += lines.get_column("file").n_unique()
        self.lines += lines.height
        self.events += lines.height - int(lines.get_column("copy").sum())
        keys = session_keys(accepted_events(lines))
        self.accepted += keys.height
        self.records.append(_defect_records(lines))
        cutoff = delivered_to - _LATEST_ARRIVAL
        keys = pl.concat([self.tail, keys])
        self.sessions += _session_starts(keys, self.counted_to, cutoff)
        self.counted_to = cutoff
        self.tail = keys.filter(pl.col("at") >= cutoff - _GAP_MICROS)

    def defects(self) -> pl.DataFrame:
        return pl.concat(self.records) if self.records else pl.DataFrame(schema=DEFECTS_SCHEMA)

    def truth(self) -> dict[str, Any]:
        counts = dict(self.defects().group_by("defect").len().iter_rows())
        return {
            "batches": self.batches,
            "lines": self.lines,
            "events": self.events,
            "accepted_events": self.accepted,
            "sessions": self.sessions + _session_starts(self.tail, self.counted_to, _NO_END),
            "lateness_hours": LATENESS.total_seconds() / 3600,
            "defect_counts": {kind.defect: counts.get(kind.defect, 0) for kind in CLICKSTREAM_DEFECT_KINDS},
        }

    def frames(self) -> dict[str, pl.DataFrame]:
        return {"session_tail": self.tail, "clickstream_defects": self.defects()}

    def values(self) -> dict[str, int]:
        names = ("batches", "lines", "events", "accepted", "sessions", "counted_to")
        return {name: getattr(self, name) for name in names}

    @classmethod
    def resumed(cls, frames: dict[str, pl.DataFrame], values: dict[str, Any]) -> Tally:
        tally = cls()
        for name, value in values.items():
            if name != "high_water":
                setattr(tally, name, value)
        tally.tail, tally.records = frames["session_tail"], [frames["clickstream_defects"]]
        return tally


def _session_starts(keys: pl.DataFrame, low: int, high: int) -> int:
    """Sessions (`count_sessions`'s rule) among `keys` starting at an instant in [low, high)."""
    users, at = keys.get_column("user").to_numpy(), keys.get_column("at").to_numpy()
    order = np.lexsort((at, users))
    users, at = users[order], at[order]
    new_user = np.diff(users, prepend=users[:1] - 1) != 0
    gap = np.diff(at, prepend=at[:1]) > _GAP_MICROS
    return int(((new_user | gap) & (at >= low) & (at < high)).sum())


def json_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """file, day, text: each batch line as the collector writes it (JSON, fields in EVENT_FIELDS order)."""
    return lines.select(
        "file",
        "day",
        text=pl.struct(list(EVENT_FIELDS)).struct.json_encode(),
    )
