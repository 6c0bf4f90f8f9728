"""Every collected test is in exactly one tier, and the tier rule puts known tests where they belong."""

import importlib
from collections.abc import Callable
from pathlib import Path

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


# Every file the tests below collect.
COLLECTED = sorted(
    {test.split("::")[0] for test in KNOWN}
    | {
        "assets_tests/defs/curated/test_dimensions.py",
        "assets_tests/sources/test_postgres_pipeline.py",
        "assets_tests/defs/curated/test_incremental_build.py",
        "assets_tests/operations/test_erasure.py",
        "assets_tests/sources/test_shop_db.py",
    }
)


@pytest.fixture(scope="module")
def imported() -> None:
    """The collected files' modules, imported before any `pytester` (function-scoped) is set up.

    pytester forgets the modules imported while it was in use, and a second collection would
    import a native extension again (numpy's: "cannot load module more than once per process").
    In the whole suite they are imported already."""
    for file in COLLECTED:
        importlib.import_module(".".join(Path(file).with_suffix("").parts))


@pytest.fixture
def collect(imported: None, pytester: pytest.Pytester) -> Callable[..., list[pytest.Item]]:
    """The tests of the given files (paths from the project root), collected in this process."""

    def collect(*files: str) -> list[pytest.Item]:
        assert set(files) <= set(COLLECTED), "add the file to COLLECTED"
        paths = [str(PROJECT_ROOT / file) for file in files]
        return pytester.inline_genitems(*paths, "-p", "no:cacheprovider")[0]

    return collect


def test_every_test_has_exactly_one_tier(request: pytest.FixtureRequest):
    tiers = {item.nodeid: tiers_of(item) for item in request.session.items}

    assert {nodeid: found for nodeid, found in tiers.items() if len(found) != 1} == {}
    assert {found[0] for found in tiers.values()} <= set(TIERS)


def test_the_tier_follows_what_the_test_uses(collect: Callable[..., list[pytest.Item]]):
    items = collect(*sorted({test.split("::")[0] for test in KNOWN}))

    found = {item.nodeid: tiers_of(item) for item in items if item.nodeid in KNOWN}
    assert found == {test: [tier] for test, tier in KNOWN.items()}


def test_each_session_build_is_the_group_of_the_tests_using_it(collect: Callable[..., list[pytest.Item]]):
    """Two groups, so two workers build the two session lakehouses at once."""
    items = collect("assets_tests/defs/curated/test_dimensions.py")

    groups = {
        (item.nodeid.split("[")[1][:16], str(item.get_closest_marker("xdist_group").args[0]))
        for item in items
        if "[scale" in item.nodeid
    }
    assert groups == {("scale0.01-seed42", "lakehouse"), ("scale0.005-seed7", "second_lakehouse")}


def test_tests_sharing_building_fixtures_of_two_files_join_those_files_groups(
    collect: Callable[..., list[pytest.Item]],
):
    """The PostgreSQL day compares with the root conftest's `incremental_builds` and builds its
    module's `builds`: both files' tests go to one worker, so neither fixture is built on two."""
    items = collect(
        "assets_tests/sources/test_postgres_pipeline.py",
        "assets_tests/defs/curated/test_incremental_build.py",
    )

    groups = {str(item.get_closest_marker("xdist_group").args[0]) for item in items}
    assert groups == {"assets_tests/conftest.py+assets_tests/sources/test_postgres_pipeline.py"}


def test_the_tests_using_a_server_and_building_nothing_are_the_servers_group(
    collect: Callable[..., list[pytest.Item]],
):
    """One worker starts each server for them; an e2e test using one stays in its building group."""
    erasure = "assets_tests/operations/test_erasure.py"
    items = collect(erasure, "assets_tests/sources/test_shop_db.py")

    groups = {item.nodeid.split("::")[1].split("[")[0]: group(item) for item in items}
    assert groups["test_an_erasure_on_object_storage_leaves_no_trace_in_the_bucket"] == "object_store"
    assert groups["test_an_erased_customer_is_nowhere_and_stays_out"] == erasure
    assert groups["test_with_a_watermark_only_rows_strictly_after_it_are_extracted"] == "postgres_server"
    assert groups["test_a_missing_table_is_a_schema_error_naming_it"] == "postgres_server"  # empty_database
    assert groups["test_an_unsupported_uri_scheme_is_unavailable"] is None


def group(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    return None if marker is None else str(marker.args[0])
