"""The Dagster UI in a real browser, as a user drives it: Playwright clicking through Chromium.

The webserver serves the project's workspace over a copy of a built lakehouse. The test opens the
asset graph and an asset's page, then materialises an asset and one partition of a daily fact by
clicking, and checks in the instance that both runs succeeded and that the Delta tables got new
versions. The browser is Debian's `chromium` (`.ci/install-chromium` installs it when missing:
Playwright's own browser download is not available here). The instance is the test's own, with
the immediate run coordinator, so a launched run starts at once with no daemon. On failure, a
screenshot of the page is saved under `data/browser-test/`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable
from playwright.sync_api import Page, expect, sync_playwright

from assets_tests.conftest import Lakehouse, copy_of_build
from lakehouse.settings import PROJECT_ROOT

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = PROJECT_ROOT / "data" / "browser-test"
PARTITION = "2025-01-15"  # a day of the 30-day build, outside the dialog's default window of recent days
# Runs launched at once (Dagster's default coordinator queues them for a daemon); no welcome dialog.
INSTANCE_YAML = """
storage: {{sqlite: {{base_dir: {storage}}}}}
run_coordinator: {{module: dagster.core.run_coordinator, class: DefaultRunCoordinator}}
telemetry: {{enabled: false}}
nux: {{enabled: false}}
"""
WAIT_SECONDS = 120  # for the webserver to serve and for a run to end (a loaded 2-core machine)


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, installed by the project's script when missing."""
    if not CHROMIUM.exists():
        installed = subprocess.run([str(PROJECT_ROOT / ".ci" / "install-chromium")], check=False)
        if installed.returncode == 2:
            pytest.skip("no apt-get to install chromium with: install it so that /usr/bin/chromium exists")
        assert installed.returncode == 0, "installing chromium failed (see the output above)"
    return CHROMIUM


@pytest.fixture
def built(tmp_path: Path, instance: dg.DagsterInstance) -> Lakehouse:
    return copy_of_build(tmp_path / "data", instance, scale=0.01, seed=42, days=30)


@pytest.fixture
def webserver(built: Lakehouse, tmp_path: Path) -> Iterator[tuple[str, dg.DagsterInstance]]:
    """The UI over `built` on a free port: its URL, and the instance its runs are recorded in."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML.format(storage=home / "storage"))
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "LAKEHOUSE_DATA_DIR": str(built.settings.data_dir)}
    command = [
        str(Path(PROJECT_ROOT, ".venv", "bin", "dagster-webserver")),
        *("-h", "127.0.0.1", "-p", str(port), "-w", str(PROJECT_ROOT / "workspace.yaml")),
    ]
    log = (tmp_path / "webserver.log").open("w")
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_serving(url, server, tmp_path / "webserver.log")
        with dg.DagsterInstance.from_config(str(home)) as runs:
            yield url, runs
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_materialise_an_asset_and_a_partition_by_clicking(
    chromium: Path, webserver: tuple[str, dg.DagsterInstance], built: Lakehouse, tmp_path: Path
):
    url, runs = webserver
    tables = built.settings.tables_dir
    before = {table: _version(tables, table) for table in ("raw/payments", "curated/fact_payments")}
    built.advance(1)  # a new settlement file lands: raw/payments has something to ingest

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        page = browser.new_page()
        page.set_default_timeout(WAIT_SECONDS * 1000)  # a loaded machine renders slowly
        expect.set_options(timeout=WAIT_SECONDS * 1000)
        try:
            with _screenshot_on_failure(page):
                _the_asset_graph_shows_the_layers(page, url)
                _the_assets_page_shows_its_data(page, url)
                asset_run = _click_materialise(page, url, runs)
                partition_run = _click_materialise_partition(page, url, runs)
        finally:
            browser.close()

    assert asset_run.status == dg.DagsterRunStatus.SUCCESS
    assert "raw/payments" in {key.to_user_string() for key in asset_run.asset_selection or ()}
    assert partition_run.status == dg.DagsterRunStatus.SUCCESS
    assert partition_run.tags["dagster/partition"] == PARTITION
    assert _version(tables, "raw/payments") > before["raw/payments"]
    assert _version(tables, "curated/fact_payments") > before["curated/fact_payments"]
    replaced = DeltaTable(tables / "curated" / "fact_payments").history(1)[0]
    assert replaced["operationParameters"]["predicate"].count(PARTITION) >= 1  # that day's slice


def _the_asset_graph_shows_the_layers(page: Page, url: str) -> None:
    page.goto(f"{url}/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    for group in ("raw", "refined", "curated", "quarantine"):
        expect(page.get_by_text(group, exact=True).first).to_be_visible()


def _the_assets_page_shows_its_data(page: Page, url: str) -> None:
    page.goto(f"{url}/assets/curated/fact_payments")
    expect(page.get_by_text("Settled payments (grain: one payment)")).to_be_visible()
    expect(page.get_by_text("amount_usd", exact=True)).to_be_visible()  # its columns, from the contract
    expect(page.get_by_text("data-platform", exact=True)).to_be_visible()  # its owner


def _click_materialise(page: Page, url: str, runs: dg.DagsterInstance) -> dg.DagsterRun:
    """Materialise raw/payments from its page: the run it launched, once ended."""
    known = _run_ids(runs)
    page.goto(f"{url}/assets/raw/payments")
    page.get_by_role("button", name=re.compile(r"Materialize$")).click()  # its name starts with its icon's
    # raw/payments is written with its file quarantine by one step: the UI asks to confirm both
    confirm = page.get_by_role("dialog").filter(has_text="Additional assets will be materialized")
    expect(confirm.get_by_text("quarantine / payments_files")).to_be_visible()
    confirm.get_by_role("button", name="Confirm").click()
    return _ended_run(runs, known)


def _click_materialise_partition(page: Page, url: str, runs: dg.DagsterInstance) -> dg.DagsterRun:
    """Materialise one day of curated/fact_payments through the partition dialog: its run, once ended."""
    known = _run_ids(runs)
    page.goto(f"{url}/assets/curated/fact_payments")
    page.get_by_role("button", name="Materialize…").click()
    # this instance has not seen the build's runs, so the UI warns that the inputs were never
    # materialised (they were, in the copied tables)
    warning = page.get_by_role("dialog").filter(has_text="have not been materialized yet")
    expect(warning.get_by_text("refined / payments")).to_be_visible()
    warning.get_by_role("button", name="Confirm").click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    selection = dialog.locator("input[type=text]").first
    selection.wait_for()
    show_all = dialog.get_by_text("Show all partitions", exact=True)  # the dialog opens on recent days
    if show_all.count():
        show_all.click()
    selection.fill(PARTITION)
    selection.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    dialog.get_by_role("button", name="Launch 1 run").click()
    return _ended_run(runs, known)


def _run_ids(runs: dg.DagsterInstance) -> set[str]:
    return {run.run_id for run in runs.get_runs()}


def _ended_run(runs: dg.DagsterInstance, known: set[str]) -> dg.DagsterRun:
    """The one run launched since `known`, once it has ended (success or not)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        new = [run for run in runs.get_runs() if run.run_id not in known]
        if new and new[0].is_finished:
            assert len(new) == 1, f"expected one run, launched: {[r.run_id for r in new]}"
            return new[0]
        time.sleep(1)
    raise AssertionError(f"no run launched from the UI ended within {WAIT_SECONDS} s")


def _version(tables: Path, table: str) -> int:
    return DeltaTable(tables / table).version()


@contextmanager
def _screenshot_on_failure(page: Page) -> Iterator[None]:
    """Save what the browser showed when a step failed, under data/browser-test/."""
    try:
        yield
    except BaseException:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"failure-{time.strftime('%Y%m%d-%H%M%S')}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot of the failing page: {path}")
        raise


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the webserver exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the webserver did not serve within {WAIT_SECONDS} s:\n{log.read_text()[-3000:]}")
