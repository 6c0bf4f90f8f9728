"""Column lineage joined across tables: exact paths of known columns down to raw, and its diagrams."""

import xml.etree.ElementTree as ET

import pytest

from lakehouse.definitions import default_definitions
from lakehouse.lib.column_lineage import ColumnLineage, mermaid, svg

LINEAGE = ColumnLineage.from_definitions(default_definitions())


def test_a_facts_revenue_column_goes_back_to_raw_order_items_and_exchange_rates():
    path = LINEAGE.trace("curated.fact_order_items", "net_usd")

    assert path.lines() == [
        "curated.fact_order_items.net_usd",
        "  refined.exchange_rates.usd_rate",
        "    raw.exchange_rates.usd_rate",
        "  refined.order_items.discount",
        "    raw.order_items.discount",
        "  refined.order_items.quantity",
        "    raw.order_items.quantity",
        "  refined.order_items.unit_price",
        "    raw.order_items.unit_price",
    ]


def test_a_payments_usd_amount_goes_back_to_raw_payments():
    path = LINEAGE.trace("curated/fact_payments", "amount_usd")  # asset key spelling works too

    assert path.leaves() == ["raw.exchange_rates.usd_rate", "raw.payments.amount"]


def test_a_mart_column_goes_through_the_fact_and_the_dimensions():
    assert LINEAGE.trace("curated.mart_daily_sales", "country").lines() == [
        "curated.mart_daily_sales.country",
        "  curated.dim_customer.country",
        "    refined.customers.country",
        "      raw.customers.country",
    ]
    assert LINEAGE.trace("curated.mart_daily_sales", "net_usd").leaves() == [
        "raw.exchange_rates.usd_rate",
        "raw.order_items.discount",
        "raw.order_items.quantity",
        "raw.order_items.unit_price",
    ]


def test_every_column_with_lineage_ends_in_raw_columns():
    leaves = {
        leaf
        for table, columns in LINEAGE.deps.items()
        for c in columns
        for leaf in LINEAGE.trace(table, c).leaves()
    }
    assert leaves and all(leaf.startswith("raw.") for leaf in leaves)


def test_unknown_tables_and_columns_are_named_with_what_exists():
    with pytest.raises(ValueError, match=r"no column lineage for table curated.nope; tables with lineage: "):
        LINEAGE.trace("curated.nope", "x")
    with pytest.raises(ValueError, match=r"curated.fact_payments has no column amount_eur .*: payment_id, "):
        LINEAGE.trace("curated.fact_payments", "amount_eur")


SMALL = ColumnLineage(
    {
        "curated.f": {"total": [("refined.t", "price"), ("refined.t", "qty")]},
        "refined.t": {"price": [("raw.t", "price")], "qty": [("raw.t", "qty")]},
    }
)


def test_mermaid_draws_a_box_per_table_and_an_edge_per_dependency():
    assert mermaid(SMALL, "curated.f") == "\n".join(
        [
            "flowchart LR",
            '  subgraph curated__f["curated.f"]',
            '    curated__f__total["total"]',
            "  end",
            '  subgraph raw__t["raw.t"]',
            '    raw__t__price["price"]',
            '    raw__t__qty["qty"]',
            "  end",
            '  subgraph refined__t["refined.t"]',
            '    refined__t__price["price"]',
            '    refined__t__qty["qty"]',
            "  end",
            "  raw__t__price --> refined__t__price",
            "  raw__t__qty --> refined__t__qty",
            "  refined__t__price --> curated__f__total",
            "  refined__t__qty --> curated__f__total",
        ]
    )


def test_the_svg_stands_tables_in_layers_from_raw_on_the_left():
    root = ET.fromstring(svg(SMALL, "curated.f"))
    ns = "{http://www.w3.org/2000/svg}"

    titles = {t.text: float(t.get("x")) for t in root.iter(f"{ns}text") if t.get("font-weight") == "bold"}
    assert titles["raw.t"] < titles["refined.t"] < titles["curated.f"]
    assert len(list(root.iter(f"{ns}path"))) == 4  # one curve per edge
    assert svg(SMALL, "raw.t") == ""  # a table with no lineage draws nothing
