"""The serving benchmark (`lakehouse bench --queries`): analytical SQL through the catalog, against
the same data in DuckDB's native tables.

The catalog serves every table as a view over its current Delta snapshot's Parquet files, so a
query decodes Parquet on every run; a native table is DuckDB's own columnar storage, loaded once.
Their ratio is the price of serving the tables where they are. The queries are the README's example
questions (`lakehouse/serving/queries/`) plus join-heavy questions over the curated star schema and
over a declared file source (`raw.payments`, the settlement files as they landed). Each query runs
once to warm the caches, then `repeats` times; its best time counts (the machine is shared).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lakehouse.serving.resource import ServingCatalog

QUERIES_DIR = Path(__file__).parents[1] / "serving" / "queries"
LAYERS = {"raw", "refined", "curated"}  # the schemas whose tables the queries read
PARAMS = {"day": "2025-01-15"}  # the README queries' parameter: a day every demo build holds

# Join-heavy questions over the star schema and a declared file source.
ANALYTICAL = {
    "revenue_by_category_country_month": """
        select p.category, c.country, d.year, d.month, sum(f.net_usd) as net_usd, count(*) as lines
        from curated.fact_order_items f
        join curated.dim_product p on p.product_key = f.product_key
        join curated.dim_customer c on c.customer_key = f.customer_key
        join curated.dim_date d on d.date_key = f.order_date_key
        where f.order_status <> 'cancelled'
        group by all order by all""",
    "weekend_share_by_channel": """
        select f.channel, d.is_weekend, sum(f.net_usd) as net_usd,
               sum(f.net_usd) / sum(sum(f.net_usd)) over (partition by f.channel) as share
        from curated.fact_order_items f
        join curated.dim_date d on d.date_key = f.order_date_key
        group by f.channel, d.is_weekend order by all""",
    "top_products_per_category": """
        select * from (
            select p.category, p.name, sum(f.quantity) as units, sum(f.net_usd) as net_usd,
                   rank() over (partition by p.category order by sum(f.net_usd) desc) as rank
            from curated.fact_order_items f
            join curated.dim_product p on p.product_key = f.product_key
            group by p.category, p.name)
        where rank <= 5 order by category, rank""",
    "paid_versus_ordered_by_country": """
        with ordered as (
            select order_id, any_value(customer_key) as customer_key, sum(net_usd) as ordered_usd
            from curated.fact_order_items group by order_id),
        paid as (select order_id, sum(amount_usd) as paid_usd from curated.fact_payments group by order_id)
        select c.country, count(*) as orders, sum(o.ordered_usd) as ordered_usd,
               sum(p.paid_usd) as paid_usd, count(*) filter (where p.order_id is null) as unpaid
        from ordered o
        left join paid p using (order_id)
        join curated.dim_customer c on c.customer_key = o.customer_key
        group by all order by all""",
    "payment_methods_by_month": """
        select d.year, d.month, f.method, count(*) as payments, sum(f.amount_usd) as amount_usd
        from curated.fact_payments f
        join curated.dim_date d on d.date_key = f.settled_date_key
        group by all order by all""",
    "sessions_to_orders_by_country": """
        select c.country, s.channel, count(*) as sessions, sum(s.purchases) as purchases,
               count(distinct f.order_id) as orders_tracked, sum(f.net_usd) as net_usd
        from curated.fact_sessions s
        join curated.dim_customer c on c.customer_key = s.customer_key
        left join curated.fact_order_items f on f.order_id = s.order_id
        group by all order by all""",
    "customer_cohorts": """
        select date_trunc('month', c.signup_date) as cohort, d.year, d.month,
               count(distinct f.customer_id) as customers, sum(f.net_usd) as net_usd
        from curated.fact_order_items f
        join curated.dim_customer c on c.customer_key = f.customer_key
        join curated.dim_date d on d.date_key = f.order_date_key
        group by all order by all""",
    "settlement_files_against_orders": """
        select r.method, r.currency, count(*) as payments, count(f.order_id) as matched_lines,
               sum(f.net_amount) as ordered_local
        from raw.payments r
        left join curated.fact_order_items f on f.order_id = try_cast(r.order_id as bigint)
        group by all order by all""",
    "settlement_files_by_day_and_category": """
        select r.settled_at[1:10] as day, p.category, count(distinct r.payment_id) as payments
        from raw.payments r
        join curated.fact_order_items f on f.order_id = try_cast(r.order_id as bigint)
        join curated.dim_product p on p.product_key = f.product_key
        group by all order by all""",
}


@dataclass(frozen=True)
class QueryTiming:
    name: str
    catalog_seconds: float  # through the catalog's views over Delta
    native_seconds: float  # the same data in DuckDB native tables
    rows: int  # rows of the answer
    same_answer: bool  # the catalog and the native tables gave the same rows
    # CPU seconds of the process (every DuckDB thread's) in the same best runs: on a loaded shared
    # machine the steadier figure, as wall time includes waiting for a core.
    catalog_cpu_seconds: float = 0.0
    native_cpu_seconds: float = 0.0

    @property
    def ratio(self) -> float:
        return _ratio(self.catalog_seconds, self.native_seconds)

    @property
    def cpu_ratio(self) -> float:
        return _ratio(self.catalog_cpu_seconds, self.native_cpu_seconds)


@dataclass(frozen=True)
class ServingReport:
    timings: list[QueryTiming]
    load_seconds: float  # loading the native tables (not counted in the ratios)

    @property
    def total_ratio(self) -> float:
        """All queries' catalog time over their native time."""
        return _ratio(self._total("catalog_seconds"), self._total("native_seconds"))

    @property
    def total_cpu_ratio(self) -> float:
        """All queries' catalog CPU time over their native CPU time."""
        return _ratio(self._total("catalog_cpu_seconds"), self._total("native_cpu_seconds"))

    def _total(self, field: str) -> float:
        return sum(getattr(timing, field) for timing in self.timings)


def _ratio(catalog: float, native: float) -> float:
    return catalog / native if native else float("inf")


def queries() -> dict[str, str]:
    """The README's example questions (their file names) and the analytical ones, by name."""
    examples = {path.stem: path.read_text() for path in sorted(QUERIES_DIR.glob("*.sql"))}
    return {**examples, **ANALYTICAL}


def run(
    catalog: Path | ServingCatalog, repeats: int = 3, echo: Callable[[str], None] = print
) -> ServingReport:
    """Time every query through the catalog (a reader's connection, as `lakehouse sql` opens it:
    sandboxed, with its thread and memory limits) and against native copies of its tables (a
    connection with the same limits)."""
    serving = ServingCatalog.of(catalog)
    named = queries()
    with serving.get_connection() as views:
        served = {name: _best(views, sql, repeats) for name, sql in named.items()}
    with duckdb.connect() as native:
        native.execute("SET threads = $threads", {"threads": serving.threads})
        native.execute("SET memory_limit = $limit", {"limit": serving.memory_limit})
        started = time.perf_counter()
        _load_native(native, Path(serving.database), _tables_used(named.values()))
        load_seconds = time.perf_counter() - started
        echo(f"native tables loaded in {load_seconds:.1f} s")
        loaded = {name: _best(native, sql, repeats) for name, sql in named.items()}
    timings = [_timing(name, served[name], loaded[name]) for name in named]
    return ServingReport(timings, load_seconds)


@dataclass(frozen=True)
class _Best:
    seconds: float
    cpu_seconds: float
    answer: list[tuple]


def _timing(name: str, served: _Best, loaded: _Best) -> QueryTiming:
    """A query's timing through the catalog and from native tables."""
    same = served.answer == loaded.answer
    return QueryTiming(
        name, served.seconds, loaded.seconds, len(served.answer), same, served.cpu_seconds, loaded.cpu_seconds
    )


def _tables_used(sqls) -> list[str]:
    """`layer.table` names the queries read (a name is a word after FROM or JOIN)."""
    found = set()
    for sql in sqls:
        words = sql.replace("\n", " ").split()
        found.update(b for a, b in itertools.pairwise(words) if a.lower() in {"from", "join"})
    return sorted(name for name in found if name.split(".")[0] in LAYERS)


def _load_native(con: duckdb.DuckDBPyConnection, catalog: Path, tables: list[str]) -> None:
    """Copy each table the queries read from the catalog into a native table of the same name."""
    con.execute(f"ATTACH '{catalog}' AS served (READ_ONLY)")
    for schema in sorted({table.split(".")[0] for table in tables}):
        con.execute(f"CREATE SCHEMA {schema}")
    for table in tables:
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM served.{table}")
    con.execute("DETACH served")


def _best(con: duckdb.DuckDBPyConnection, sql: str, repeats: int) -> _Best:
    """The query's best wall and CPU times of `repeats` runs, after one warm-up run, and its answer."""
    answer = con.execute(sql, PARAMS if "$day" in sql else None).fetchall()
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        con.execute(sql, PARAMS if "$day" in sql else None).fetchall()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu_started)
    return _Best(min(walls), min(cpus), answer)


def format_report(report: ServingReport) -> str:
    head = f"{'query':<38}{'catalog s':>10}{'native s':>10}{'ratio':>8}{'cpu s':>9}{'native':>9}{'ratio':>8}"
    lines = [head]
    lines += [
        f"{t.name:<38}{t.catalog_seconds:>10.4f}{t.native_seconds:>10.4f}{t.ratio:>7.2f}x"
        f"{t.catalog_cpu_seconds:>9.4f}{t.native_cpu_seconds:>9.4f}{t.cpu_ratio:>7.2f}x"
        + ("" if t.same_answer else "  ANSWERS DIFFER")
        for t in report.timings
    ]
    lines.append(
        f"{'all queries':<38}{'':>20}{report.total_ratio:>7.2f}x{'':>18}{report.total_cpu_ratio:>7.2f}x"
        "  (catalog / native: wall, CPU)"
    )
    return "\n".join(lines)
