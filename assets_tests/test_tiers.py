"""Every collected test is in exactly one tier, and the tier rule puts known tests where they belong."""

import pytest

from assets_tests.tiers import TIERS, tiers_of
from lakehouse.settings import PROJECT_ROOT

pytest_plugins = ["pytester"]

KNOWN = {
    # a session build
    "assets_tests/test_definitions.py::test_every_commit_records_its_run_and_input_versions": "e2e",
    # build_lakehouse called in the test itself
    "assets_tests/test_definitions.py::test_running_again_changes_nothing": "e2e",
    # build_lakehouse called by a fixture of the module
    "assets_tests/lib/test_partitions.py::test_a_backfill_replaces_exactly_the_slices_of_its_days": "e2e",
    # a copy of a cached build
    "assets_tests/operations/test_replay.py::test_list_and_show_quarantine_by_table_and_rule": "e2e",
    # build_lakehouse called by a fixture of a conftest.py
    "assets_tests/cli/test_operations.py::test_report_rejects_zero_runs": "e2e",
    # marked explicitly: the command in a fresh process
    "assets_tests/cli/test_sources.py::test_simulate_keeps_the_sources_alive_until_interrupted": "e2e",
    # the Dagster instance
    "assets_tests/defs/orchestration/test_alerts.py::"
    "test_a_failed_run_is_recorded_and_posted_to_the_webhook[webhook-ok]": "integration",
    # files on disk
    "assets_tests/lib/storage/test_delta_tables.py::test_overwrite_replaces_everything": "integration",
    # in memory
    "assets_tests/lib/test_partitions.py::test_a_backfill_range_must_be_a_range_of_the_history": "unit",
}


def test_every_test_has_exactly_one_tier(request: pytest.FixtureRequest):
    tiers = {item.nodeid: tiers_of(item) for item in request.session.items}

    assert {nodeid: found for nodeid, found in tiers.items() if len(found) != 1} == {}
    assert {found[0] for found in tiers.values()} <= set(TIERS)


def test_the_tier_follows_what_the_test_uses(pytester: pytest.Pytester):
    files = sorted({str(PROJECT_ROOT / test.split("::")[0]) for test in KNOWN})
    items, _ = pytester.inline_genitems(*files, "-p", "no:cacheprovider")

    found = {item.nodeid: tiers_of(item) for item in items if item.nodeid in KNOWN}
    assert found == {test: [tier] for test, tier in KNOWN.items()}


def test_each_session_build_is_the_group_of_the_tests_using_it(pytester: pytest.Pytester):
    """Two groups, so two workers build the two session lakehouses at once."""
    items, _ = pytester.inline_genitems(
        str(PROJECT_ROOT / "assets_tests/defs/curated/test_dimensions.py"), "-p", "no:cacheprovider"
    )

    groups = {
        (item.nodeid.split("[")[1][:16], str(item.get_closest_marker("xdist_group").args[0]))
        for item in items
        if "[scale" in item.nodeid
    }
    assert groups == {("scale0.01-seed42", "lakehouse"), ("scale0.005-seed7", "second_lakehouse")}


def test_tests_sharing_building_fixtures_of_two_files_join_those_files_groups(pytester: pytest.Pytester):
    """The PostgreSQL day compares with the root conftest's `incremental_builds` and builds its
    module's `builds`: both files' tests go to one worker, so neither fixture is built on two."""
    files = ("sources/test_postgres_pipeline.py", "defs/curated/test_incremental_build.py")
    paths = [str(PROJECT_ROOT / "assets_tests" / file) for file in files]
    items, _ = pytester.inline_genitems(*paths, "-p", "no:cacheprovider")

    groups = {str(item.get_closest_marker("xdist_group").args[0]) for item in items}
    assert groups == {"assets_tests/conftest.py+assets_tests/sources/test_postgres_pipeline.py"}
