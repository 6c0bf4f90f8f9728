"""`lakehouse plan`, `apply`, `diff` and `backup` from the command line, on a copy of `home`."""

import shutil
from pathlib import Path

from assets_tests.cli.conftest import Invoke, home_invoker


def test_plan_and_apply_of_code_that_matches_its_tables_change_nothing(home_cli: Invoke):
    assert home_cli("plan").output.strip() == "No changes: every table matches the code."

    result = home_cli("apply", "--yes")

    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "nothing to apply"


def test_diff_of_a_table_with_itself(home_cli: Invoke):
    result = home_cli("diff", "curated.mart_daily_sales", "--from", "0", "--to", "0")

    assert result.exit_code == 0
    assert result.output.splitlines()[0] == (
        "curated.mart_daily_sales version 0 -> 0: 0 rows added, 0 removed, 0 changed"
    )


def test_backup_list_and_restore_after_the_tables_are_lost(home_copy: Path, tmp_path: Path):
    cli, dest = home_invoker(home_copy), str(tmp_path / "backups")

    created = cli("backup", "create", dest)
    refused = cli("backup", "restore", dest)
    shutil.rmtree(home_copy / "data" / "tables")
    restored = cli("backup", "restore", dest)

    copying, done = created.output.splitlines()
    assert created.exit_code == 0 and copying.startswith("copying ") and " 0 new" not in done
    backup_id = done.split()[1].rstrip(":")
    assert cli("backup", "list", dest).output.split()[0] == backup_id
    assert refused.exit_code == 1 and "pass --force to do so" in refused.output
    assert restored.exit_code == 0 and f"restored backup {backup_id}" in restored.output
    assert "1 row" in cli("sql", "select count(*) from curated.dim_date").output
