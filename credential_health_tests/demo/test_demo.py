"""`make demo` end to end from a clean copy of the repository: summary, Dagster instance, no leaks, no leftovers."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from dagster import DagsterInstance, RunsFilter

from credential_health.demo.mix import TENANTS, demo_credentials, expected_scope_events, scopes_reported

ROOT = Path(__file__).resolve().parents[2]
SEED = "leak-test-seed"


def clean_copy(target: Path) -> Path:
    """The repository's files as a fresh clone would have them (tracked and new, never ignored ones)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def processes_in(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if Path(process.cwd()).is_relative_to(folder):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            pass
    return found


def measure_copy(env: dict, copy: Path) -> None:
    """When the suite measures coverage, count the copy's lines too ([tool.coverage.paths] maps them back)."""
    encoded = env.get("COVERAGE_PROCESS_CONFIG")  # set by coverage's patch = ["subprocess"]
    if encoded:
        config = json.loads(base64.b64decode(encoded))
        config["source"] = [str(copy / "credential_health")]
        env["COVERAGE_PROCESS_CONFIG"] = base64.b64encode(json.dumps(config).encode()).decode()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    copy = clean_copy(tmp_path_factory.mktemp("clone"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CREDENTIAL_", "WEBHOOK_", "DAGSTER_"))}
    env["CREDENTIAL_HEALTH_DEMO_SEED"] = SEED
    measure_copy(env, copy)
    venv = Path(sys.executable).parent.parent  # the suite's environment, used as is (never reinstalled)
    command = ["make", "demo", f"VENV={venv}", "SKIP_INSTALL=1"]
    runs = [
        subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=900) for _ in range(2)
    ]  # running it twice works
    return copy, runs


def test_demo_runs_twice_and_reports_the_seeded_mix(demo):
    copy, runs = demo
    for run in runs:
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        assert "Per-window results" in run.stdout and "make ui" in run.stdout
    summary = json.loads((copy / ".dagster_home" / "demo_summary.json").read_text())
    assert len(summary["windows"]) == 4 and list(summary["per_window"]) == summary["windows"]
    for counts in summary["per_window"].values():
        assert counts == summary["expected_per_window"] == {"valid": 138, "invalid": 10, "unknown": 2}
    credentials = demo_credentials(SEED)
    expected = sorted(c.path for c in credentials if c.expected_status == "invalid")
    assert [a["credential"] for a in summary["alerted"]] == expected
    assert all(a["events"] == 1 and a["streak"] == 4 for a in summary["alerted"])  # alerted once, at window 3
    # Scope events only once Binance checks read the key's information (the probe): each sent once
    scope_events = expected_scope_events(credentials) if scopes_reported() else {}
    assert summary["scope_events"] == scope_events
    assert summary["webhooks_accepted"] == summary["webhooks_received"] == len(expected) + sum(scope_events.values())
    assert summary["accepted_types"] == sorted(["credential.failed", *scope_events])
    assert all(("Keys with a scope risk" in run.stdout) == bool(scope_events) for run in runs)
    assert len({c.tenant_id for c in credentials}) == TENANTS


def test_demo_leaves_no_process_behind(demo):
    copy, _ = demo
    assert processes_in(copy) == []


def test_dagster_instance_holds_the_runs_and_materialisations(demo):
    copy, _ = demo
    with DagsterInstance.from_config(str(copy / ".dagster_home")) as instance:
        main_runs = instance.get_runs(RunsFilter(job_name="credential_health_job"))
        assert len(main_runs) == 8 and {r.tags["dagster/partition"] for r in main_runs} == set(
            json.loads((copy / ".dagster_home" / "demo_summary.json").read_text())["windows"]
        )
        assert len(instance.get_runs(RunsFilter(job_name="notify_tenants_job"))) == 8
        from dagster import AssetKey

        assert instance.get_latest_materialization_event(AssetKey("credential_failure_rollup")) is not None


def _dump(path: Path) -> str:
    if path.suffix == ".db" or path.name.endswith((".db-wal",)):
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
                return "\n".join(connection.iterdump())
        except sqlite3.DatabaseError:
            pass
    return path.read_bytes().decode("utf-8", errors="replace")


def test_no_seeded_secret_anywhere_in_the_demo_output(demo):
    copy, runs = demo
    secrets = {value for c in demo_credentials(SEED) for value in (c.api_key, c.secret)}
    texts = {"stdout/stderr": "".join(r.stdout + r.stderr for r in runs)}
    for path in (copy / ".dagster_home").rglob("*"):
        if path.is_file():
            texts[str(path.relative_to(copy))] = _dump(path)
    assert any("credential_health_checks" in text for text in texts.values())  # the result tables were read
    assert any("webhook.test" not in t and "credential.failed" in t for t in texts.values())  # payloads were read
    leaks = {name: value[:6] + "..." for name, text in texts.items() for value in secrets if value in text}
    assert leaks == {}
    assert not [name for name, text in texts.items() if "whsec_" in text]


def test_the_seeded_scopes_have_the_simulators_shape():
    from credential_health.demo.mix import simulator_keys
    from credential_health.sandbox.keys import SimKey

    keys = simulator_keys(demo_credentials(SEED), scopes=True)
    shapes = {tuple(sorted(k["scope"])) for k in keys}
    assert shapes == {("expires_at", "ip_allowlist", "trade", "transfer", "withdraw")}
    risky = [k["scope"] for k in keys if k["scope"]["withdraw"] or k["scope"]["ip_allowlist"] is None]
    expiring = [k["scope"]["expires_at"] for k in keys if k["scope"]["expires_at"]]
    assert len(risky) == expected_scope_events(demo_credentials(SEED))["credential.scope_risk"] == 3
    assert len(expiring) == 2 and all(isinstance(e, int) for e in expiring)
    for key in keys:  # the simulator accepts every one of them
        SimKey(**key)
    assert "scope" not in simulator_keys(demo_credentials(SEED))[0]
