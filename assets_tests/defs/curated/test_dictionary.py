"""The data dictionary is generated from the table specs, and the committed one is up to date."""

from assets_tests.defs.curated.support import curated_assets, defs
from lakehouse.defs.curated.dictionary import DICTIONARY_PATH, curated_docs, render_dictionary
from lakehouse.lib.column_lineage import ColumnLineage

LINEAGE = ColumnLineage.from_definitions(defs)


def test_the_committed_data_dictionary_is_up_to_date():
    assert DICTIONARY_PATH.read_text() == render_dictionary(LINEAGE), (
        "run `lakehouse dictionary` and commit it"
    )


def test_every_curated_table_and_column_is_documented():
    docs = curated_docs()

    # the specs found in the package's modules are exactly the assets the defs-folder loader found
    assert sorted(docs) == sorted(".".join(a.key.path) for a in curated_assets())
    assert all(doc.description and doc.key and doc.grain for doc in docs.values())
    assert all(column.description for doc in docs.values() for column in doc.columns)


def test_the_dictionary_shows_a_tables_key_grain_and_columns():
    section = render_dictionary(LINEAGE).split("## `curated.fact_payments`")[1].split("## ")[0]

    assert "Grain: payment. Key: `payment_id`. Written by: overwrite_partition." in section
    assert "- `customer_key -> curated.dim_customer.customer_key`" in section
    assert "- `settled_date_key -> curated.dim_date.date_key`" in section
    assert (
        "| `amount_usd` | Decimal(precision=18, scale=2) | no | Amount in USD, rounded to cents. |" in section
    )


def test_the_dictionary_draws_each_tables_column_lineage_down_to_raw():
    section = render_dictionary(LINEAGE).split("## `curated.fact_payments`")[1].split("## ")[0]
    diagram = section.split("```mermaid\n")[1].split("```")[0]

    assert diagram.startswith("flowchart LR\n")
    # amount_usd from the settlement amount and the day's rate, each back to its raw column
    for edge in [
        "refined__payments__amount --> curated__fact_payments__amount_usd",
        "refined__exchange_rates__usd_rate --> curated__fact_payments__amount_usd",
        "raw__payments__amount --> refined__payments__amount",
        "raw__exchange_rates__usd_rate --> refined__exchange_rates__usd_rate",
    ]:
        assert f"  {edge}\n" in diagram
    assert '  subgraph raw__payments["raw.payments"]' in diagram
