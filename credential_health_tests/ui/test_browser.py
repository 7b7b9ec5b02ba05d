"""`make ui` in a real browser: the failing credentials are named in the UI, and Materialize launches a run
that succeeds. Headless Debian Chromium driven by Playwright; screenshots land in .test-artifacts/ui/."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import requests

from credential_health.sandbox.ports import free_port
from credential_health_tests.fixtures.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 420  # seeding, one window and `dagster dev` on a busy 2-core machine
RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId status jobName tags { key value } } } } }"


def stack_env(home: Path) -> dict[str, str]:
    """The suite's environment without its settings: the stack configures itself, as `make ui` does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CREDENTIAL_", "WEBHOOK_"))}
    return {**env, "DAGSTER_HOME": str(home)}


@pytest.fixture(scope="module")
def ui_stack(tmp_path_factory):
    """`python -m credential_health.demo.ui --windows 1` (what `make ui` runs), stopped with Ctrl-C's signal."""
    if not CHROMIUM.exists():
        unavailable("Debian's chromium is not installed (apt-get install -y chromium)")
    home = tmp_path_factory.mktemp("ui_home")
    process = subprocess.Popen(
        [sys.executable, "-m", "credential_health.demo.ui", "--windows", "1", "--port", str(free_port())],
        cwd=ROOT,
        env=stack_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output, url, deadline = [], None, time.monotonic() + START_TIMEOUT
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        if line.startswith("Dagster UI: "):
            url = line.split(": ", 1)[1].strip()
    assert url, "make ui did not print its URL:\n" + "".join(output)
    family = [process_handle(process.pid), *process_handle(process.pid).children(recursive=True)]
    yield url, home, output
    started = time.monotonic()
    process.send_signal(signal.SIGINT)  # Ctrl-C
    output.append(process.communicate(timeout=90)[0])
    left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"left running after Ctrl-C: {[p.cmdline()[:3] for p in left]}"
    assert process.returncode == 130 and "stopped" in "".join(output)
    print(f"make ui stopped in {time.monotonic() - started:.1f} s")


def process_handle(pid: int) -> psutil.Process:
    return psutil.Process(pid)


def failing_credential(home: Path) -> tuple[str, str, str, str]:
    """A credential the first window found invalid (the test's expectation, read from the results table)."""
    with sqlite3.connect(home / "credential_health.db") as db:
        return db.execute(
            "SELECT tenant_id, exchange, credential_type, last_error_code FROM credential_status "
            "WHERE consecutive_failures > 0 ORDER BY tenant_id, exchange LIMIT 1"
        ).fetchone()


def runs(url: str) -> list[dict]:
    return requests.post(f"{url}/graphql", json={"query": RUNS_QUERY}, timeout=30).json()["data"]["runsOrError"][
        "results"
    ]


def wait_for_run(url: str, known: set[str], timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [r for r in runs(url) if r["runId"] not in known]
        if new and new[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return new[0]
        time.sleep(2)
    raise AssertionError(f"no launched run finished within {timeout:.0f} s: {runs(url)[:2]}")


def test_ui_names_failing_credentials_and_materializes_the_next_window(ui_stack, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, home, _ = ui_stack
    tenant, exchange, credential_type, error_code = failing_credential(home)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(  # a fresh profile: Playwright's --user-data-dir
            tmp_path / "chromium",
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)

            page.goto(f"{url}/assets/credential_failure_rollup", wait_until="networkidle", timeout=120_000)
            page.get_by_role("button", name="Skip").click()  # Dagster's first-visit community dialog
            row = (
                page.get_by_role("row")
                .filter(has_text=tenant)
                .filter(has_text=exchange)
                .filter(has_text=credential_type)
                .first
            )
            expect(row).to_be_visible()
            expect(row).to_contain_text(error_code)
            row.scroll_into_view_if_needed()
            page.screenshot(path=ARTIFACTS / "1-rollup-failing-credentials.png", full_page=True)

            page.goto(f"{url}/assets/credential_validation_results", wait_until="networkidle")
            worst = page.get_by_text("worst_tenants", exact=True)
            expect(worst).to_be_visible()
            worst.scroll_into_view_if_needed()
            page.screenshot(path=ARTIFACTS / "2-results-worst-tenants-and-unknowns.png", full_page=True)
            page.get_by_role("button", name="Materialize…").first.click()
            dialog = page.locator(".bp5-dialog").last
            dialog.get_by_role("button", name="Latest").click()  # the newest window: the one after the first
            launch = dialog.get_by_role("button", name="Launch 1 run")
            expect(launch).to_be_enabled()
            page.screenshot(path=ARTIFACTS / "3-materialize-next-window.png")
            known = {r["runId"] for r in runs(url)}
            launch.click()

            run = wait_for_run(url, known)
            page.goto(f"{url}/runs/{run['runId']}", wait_until="networkidle")
            expect(page.get_by_text("Success").first).to_be_visible()
            page.screenshot(path=ARTIFACTS / "4-run-succeeded.png")
        finally:
            browser.close()
    print(f"browser part took {time.monotonic() - started:.1f} s")
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert run["status"] == "SUCCESS", run
    with sqlite3.connect(home / "credential_health.db") as db:
        windows = sorted(r[0] for r in db.execute("SELECT DISTINCT window_start FROM credential_health_checks"))
    assert len(windows) == 2  # the first window, then the next one, launched here
    assert datetime.fromisoformat(windows[1]).strftime("%Y-%m-%d-%H:%M") == tags["dagster/partition"]
