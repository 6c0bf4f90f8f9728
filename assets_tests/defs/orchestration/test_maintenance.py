"""The weekly full check: builds' checks judge only what each run wrote, `full_checks` judges all."""

import dagster as dg
import polars as pl

from assets_tests.conftest import Lakehouse
from lakehouse.lib.quality.checks import FULL, FULL_CHECK_TAG

FACT = dg.AssetKey(["curated", "fact_payments"])
CHECK = dg.AssetCheckKey(FACT, "customer_key_in_dim_customer")
OP = "curated__fact_payments_checks"  # the step of the fact's checks; the job selects this one


def examined(lakehouse: Lakehouse, instance: dg.DagsterInstance, job_name: str) -> int | None:
    """Rows the foreign-key check of fact_payments examined in a run of `job_name` selecting it
    alone; None when it gave no result (nothing to examine: the UI shows it skipped)."""
    alone = dg.define_asset_job("fk_check", selection=dg.AssetSelection.checks(CHECK))
    definitions = dg.Definitions.merge(lakehouse.definitions, dg.Definitions(jobs=[alone]))
    job = definitions.resolve_job_def(job_name)
    result = job.execute_in_process(instance=instance, op_selection=[OP])
    assert (result.dagster_run.tags.get(FULL_CHECK_TAG) == FULL) == (job_name == "full_checks")
    # the step judges the fact's other checks too in the full-check job, which selects them all
    evaluations = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == CHECK]
    if not evaluations:
        return None
    (evaluation,) = evaluations
    assert evaluation.passed
    return evaluation.metadata["rows_examined"].value


def test_checks_judge_what_was_written_and_the_full_check_everything(lakehouse: Lakehouse) -> None:
    """Its own instance: the check's history starts empty (a first evaluation judges everything)."""
    rows = pl.scan_delta(str(lakehouse.settings.tables_dir / "curated" / "fact_payments")).select(pl.len())
    every_row = rows.collect().item()
    with dg.DagsterInstance.ephemeral() as instance:
        assert examined(lakehouse, instance, "fk_check") == every_row  # nothing vouched for yet
        assert examined(lakehouse, instance, "fk_check") is None  # nothing written since it passed
        assert examined(lakehouse, instance, "full_checks") == every_row
