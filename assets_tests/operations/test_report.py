"""The data-quality report: its frames held to the ground truth and the instance, its HTML parsed."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import Lakehouse, copy_of_build
from assets_tests.selected_build import build_selected
from lakehouse.definitions import default_definitions
from lakehouse.operations.report import (
    ReportData,
    anomalies,
    check_results,
    checks_per_run,
    freshness,
    gather,
    latest_checks,
    quarantine_by_rule,
    quarantine_by_run,
    summary_line,
    table_summary,
)
from lakehouse.operations.runner import BuildOutcome
from lakehouse.simulator import CLICKSTREAM_DEFECTS_FILE, DEFECTS_FILE, INVENTORY_DEFECTS_FILE

POLICY_ASSETS = [
    "curated.dim_customer",
    "curated.dim_date",
    "curated.dim_product",
    "curated.fact_inventory_daily",
    "curated.fact_order_items",
    "curated.fact_payments",
    "curated.fact_sessions",
    "curated.mart_customer_rfm",
    "curated.mart_daily_sales",
    "curated.mart_funnel",
    "curated.mart_inventory_health",
    "curated.mart_monthly_revenue",
    "curated.mart_product_performance",
    "raw.customers",
    "raw.exchange_rates",
    "raw.order_items",
    "raw.orders",
    "raw.payments",
    "raw.products",
    "raw.supplier_inventory",
    "refined.customers",
    "refined.events",
    "refined.exchange_rates",
    "refined.order_items",
    "refined.orders",
    "refined.payments",
    "refined.products",
    "refined.sessions",
    "refined.supplier_inventory",
]


@dataclass
class Trend:
    """A small lakehouse advanced a day and built, twice: a history of two runs in this instance."""

    lakehouse: Lakehouse
    outcomes: list[BuildOutcome]


@pytest.fixture(scope="module")
def trend(tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> Trend:
    """From a copy of a cached build (whose own run is in another instance): a day's run of raw/orders
    alone (a run of a few checks: what a history needs, at a tenth of a build's cost), then another
    day's whole build (the newest run, which the freshness and row tests read for every table)."""
    lakehouse = copy_of_build(tmp_path_factory.mktemp("trend"), instance, scale=0.002, seed=3, days=20)
    lakehouse.advance(1)
    first = build_selected(lakehouse, instance, dg.AssetSelection.assets(dg.AssetKey(["raw", "orders"])))
    lakehouse.advance(1)
    return Trend(lakehouse, [first, lakehouse.build(instance)])


@pytest.fixture(scope="module")
def demo_report(lakehouse: Lakehouse) -> ReportData:
    return gather(lakehouse.settings.tables_dir, lakehouse.instance, lakehouse.definitions)


@pytest.fixture(scope="module")
def demo_html(demo_report: ReportData) -> str:
    """The demo lakehouse's report, rendered once for the tests that only read it (~3 s a render)."""
    return render(demo_report)


def written_tables(lakehouse: Lakehouse) -> list[str]:
    """Every table the build wrote through Dagster: all but the audit log and the metrics themselves."""
    logs = lakehouse.settings.tables_dir.glob("*/*/_delta_log")
    names = {f"{log.parent.parent.name}.{log.parent.name}" for log in logs}
    return sorted(names - {"audit.log", "quality.metrics"})


def quarantine_defects(lakehouse: Lakehouse) -> pl.DataFrame:
    """Every injected defect meant for quarantine: the shop's and the clickstream's."""
    sources = lakehouse.settings.sources_dir
    defects = pl.read_parquet(
        [sources / DEFECTS_FILE, sources / CLICKSTREAM_DEFECTS_FILE, sources / INVENTORY_DEFECTS_FILE]
    )
    return defects.filter(pl.col("handling") == "quarantine")


def test_quarantine_by_rule_counts_exactly_the_injected_defects(lakehouse: Lakehouse):
    defects = quarantine_defects(lakehouse)
    expected = defects.group_by("table", "rule").agg(pl.len().alias("rows")).sort("table", "rule")
    by_rule = quarantine_by_rule(lakehouse.settings.tables_dir).with_columns(pl.col("rows").cast(pl.UInt32))

    # Each defect counted under the rule meant to catch it ...
    intended = by_rule.join(expected.select("table", "rule"), on=["table", "rule"], how="semi")
    assert intended.rows() == expected.rows()
    # ... and the only other rules are those a malformed payment line breaks besides: every
    # field of it is missing, so each of its not-null rules counts exactly those lines.
    others = by_rule.join(expected, on=["table", "rule"], how="anti")
    malformed = expected.filter(pl.col("rule") == "_rescued_data:well_formed_line").item(0, "rows")
    assert others.get_column("table").unique().to_list() == ["payments"]
    assert others.get_column("rule").str.ends_with(":not_nullable").all()
    assert others.get_column("rows").to_list() == [malformed] * others.height


def test_quarantine_by_run_adds_up_to_the_defects_of_each_table(lakehouse: Lakehouse):
    per_table = (
        quarantine_by_run(lakehouse.settings.tables_dir)
        .group_by("table")
        .agg(pl.col("rows").sum().cast(pl.UInt32))
        .sort("table")
    )
    expected = quarantine_defects(lakehouse).group_by("table").len().sort("table")
    assert per_table.rows() == expected.rows()


def test_checks_per_run_are_what_each_build_recorded_and_only_this_lakehouses_runs(
    trend: Trend, instance: dg.DagsterInstance
):
    # Its two newest runs: the oldest of the lakehouse's audit log is the cached build it copied.
    data = gather(trend.lakehouse.settings.tables_dir, instance, trend.lakehouse.definitions, runs=2)
    per_run = checks_per_run(data.runs, data.checks)

    # The session's instance holds runs of other lakehouses too: the report has only its own.
    expected = [
        (o.run_id, sum(c.passed for c in o.checks), sum(not c.passed for c in o.checks))
        for o in trend.outcomes
    ]
    got = per_run.select("run_id", "passed", pl.col("warning") + pl.col("failed")).rows()
    assert got == expected


def test_runs_limits_the_report_to_the_newest_runs(trend: Trend, instance: dg.DagsterInstance):
    data = gather(trend.lakehouse.settings.tables_dir, instance, trend.lakehouse.definitions, runs=1)
    assert data.runs.get_column("run_id").to_list() == [trend.outcomes[1].run_id]
    assert data.checks.get_column("run_id").unique().to_list() == [trend.outcomes[1].run_id]
    assert data.metrics.get_column("run_id").unique().to_list() == [trend.outcomes[1].run_id]


def test_rows_per_table_are_the_rows_in_each_delta_table(trend: Trend, instance: dg.DagsterInstance):
    data = gather(trend.lakehouse.settings.tables_dir, instance, trend.lakehouse.definitions)
    summary = table_summary(data)
    tables_dir = trend.lakehouse.settings.tables_dir
    for table, rows in summary.select("table", "rows").iter_rows():
        assert pl.read_delta(str(tables_dir.joinpath(*table.split(".")))).height == rows, table
    assert summary.get_column("table").sort().to_list() == written_tables(trend.lakehouse)


def test_freshness_is_judged_from_the_newest_materialisation_against_the_policy(
    trend: Trend, instance: dg.DagsterInstance
):
    newest = trend.outcomes[1].run_id
    record = instance.get_run_record_by_id(newest)
    started = datetime.fromtimestamp(record.start_time, UTC)
    ended = datetime.fromtimestamp(record.end_time, UTC)
    run_ids = [o.run_id for o in trend.outcomes]
    definitions = trend.lakehouse.definitions

    fresh = freshness(definitions, instance, run_ids, now=ended + timedelta(hours=25))
    assert fresh.get_column("table").to_list() == POLICY_ASSETS
    assert fresh.get_column("last_materialised").is_between(started, ended).all()
    assert set(fresh.get_column("state")) == {"fresh"}
    # The policy warns after 26 hours and fails after 50.
    for hours, state in ((27, "late"), (51, "stale")):
        later = freshness(definitions, instance, run_ids, now=started + timedelta(hours=hours))
        assert set(later.get_column("state")) == {state}
    never = freshness(definitions, instance, [], now=ended)
    assert set(never.get_column("state")) == {"never"}


def test_a_flagged_anomaly_is_listed_with_its_value_and_expected_range(instance: dg.DagsterInstance):
    @dg.asset(name="report_test_orders")
    def orders() -> None:
        return None

    @dg.asset_check(asset=orders, name="null_rate_anomaly")
    def null_rate_anomaly() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "null_rate": 0.4,
                "expected_range": "0.00 .. 0.10",
                "median": 0.05,
                "history_runs": 9,
            },
        )

    result = dg.materialize([orders, null_rate_anomaly], instance=instance)
    flagged = anomalies(check_results(instance, [result.run_id]))

    assert flagged.select("table", "check", "observed", "value", "expected_range", "run_id").rows() == [
        ("report_test_orders", "null_rate_anomaly", "null_rate", 0.4, "0.00 .. 0.10", result.run_id)
    ]


def test_latest_checks_list_each_checks_newest_outcome_failing_first():
    at = [datetime(2025, 1, d, tzinfo=UTC) for d in (1, 2, 1, 2, 1)]
    checks = pl.DataFrame(
        {
            "run_id": ["r1", "r2", "r1", "r2", "r1"],
            "at": at,
            "table": ["raw.a", "raw.a", "raw.b", "raw.b", "raw.c"],
            "check": ["unique_key", "unique_key", "volume_anomaly", "volume_anomaly", "key_not_null"],
            "outcome": ["failed", "passed", "passed", "warning", "failed"],
        }
    )
    assert latest_checks(checks).select("table", "check", "outcome", "run_id").rows() == [
        ("raw.c", "key_not_null", "failed", "r1"),
        ("raw.b", "volume_anomaly", "warning", "r2"),
        ("raw.a", "unique_key", "passed", "r2"),
    ]


class Tags(HTMLParser):
    """Counts start tags, the svg elements inside each figure, and collects the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.svgs_per_figure: list[int] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags[tag] += 1
        if tag == "figure":
            self.svgs_per_figure.append(0)
        elif tag == "svg":
            self.svgs_per_figure[-1] += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def render(data: ReportData) -> str:
    """The report's HTML. Its module (matplotlib's) is imported here, not when the tests are
    collected: ~1.3 s a collecting process, and only these tests render."""
    from lakehouse.operations import report_html

    return report_html.render(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags


def test_the_html_has_one_svg_per_chart_every_table_and_nothing_external(
    demo_report: ReportData, demo_html: str, lakehouse: Lakehouse
):
    html = demo_html
    tags = parse(html)

    tables = table_summary(demo_report).get_column("table").sort().to_list()
    assert tables == written_tables(lakehouse)
    # Checks per run, quarantine by rule, quarantine per run, one trend chart per table, then one
    # column-lineage diagram per curated table.
    diagrams = len([t for t in demo_report.lineage.deps if t.startswith("curated.")])
    assert diagrams == len([t for t in tables if t.startswith("curated.")])
    assert tags.svgs_per_figure == [1] * (3 + len(tables) + diagrams)
    assert tags.tags["svg"] == 3 + len(tables) + diagrams
    text = " ".join(tags.text)
    for table in tables:
        assert table in text
    assert summary_line(demo_report) in text
    checks = len(lakehouse.outcome.checks)
    assert summary_line(demo_report).startswith(
        f"OK: {checks} checks (0 failed, 0 warnings), 0 anomalies flagged"
    )
    assert tags.tags["script"] == tags.tags["link"] == tags.tags["img"] == 0
    assert "src=" not in html and "@import" not in html


def test_every_text_from_the_data_is_escaped(demo_report: ReportData):
    """Every check renamed to a script: the checks' tables show it escaped. Without the
    per-table trend charts, which the metrics draw (no check's name in them): those are ~90% of a
    render's CPU (~2.5 s of the demo's), and `demo_html`'s tests read them."""
    hostile = "<script>alert('x')</script>"
    checks = demo_report.checks.with_columns(pl.lit(hostile).alias("check"))
    html = render(dataclasses.replace(demo_report, checks=checks, metrics=demo_report.metrics.clear()))

    assert hostile not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert parse(html).tags["script"] == 0


def test_a_new_lakehouse_gets_a_clear_message(tmp_path: Path, instance: dg.DagsterInstance):
    data = gather(tmp_path / "tables", instance, default_definitions())
    html = render(data)

    assert data.is_empty
    assert summary_line(data) == "no runs have written to this lakehouse yet"
    assert "No runs have written to this lakehouse yet" in " ".join(parse(html).text)
    assert parse(html).tags["svg"] == 0


def test_the_html_draws_each_curated_tables_column_lineage(demo_html: str):
    section = demo_html.split("<section id='lineage'>")[1].split("</section>")[0]
    diagram = section.split("<details id='lineage-curated.fact_payments'>")[1].split("</details>")[0]

    boxes = [t.split(">")[1].split("<")[0] for t in diagram.split("font-weight='bold'")[1:]]
    assert sorted(boxes) == [
        "curated.dim_customer",
        "curated.fact_payments",
        "raw.customers",
        "raw.exchange_rates",
        "raw.orders",
        "raw.payments",
        "refined.customers",
        "refined.exchange_rates",
        "refined.orders",
        "refined.payments",
    ]
