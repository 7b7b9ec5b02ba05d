"""The original design's "integration test with a local worker": the real daemon runs the sensor, which
launches exactly one notify run after a `dagster job execute` rollup crosses the threshold."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from credential_health.notify.endpoints import add_endpoint
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the console scripts users run
WINDOW = "2026-11-21-00:00"


def stop_group(process: subprocess.Popen) -> None:
    """SIGINT the daemon's whole session (daemon, code server, run workers), then SIGKILL what is left."""
    session = os.getsid(process.pid)
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = [p for p in psutil.process_iter() if _session(p) == session]
        if not left:
            return
        for leftover in left:
            leftover.kill()
        time.sleep(0.5)
    raise AssertionError(f"processes left behind by the daemon: {left}")


def _session(process: psutil.Process) -> int | None:
    try:
        return os.getsid(process.pid)
    except (ProcessLookupError, PermissionError):
        return None


def notify_runs(instance: DagsterInstance):
    return instance.get_runs(RunsFilter(job_name="notify_tenants_job"))


def test_daemon_sensor_launches_one_notify_run_that_delivers(pipeline, webhook_receiver, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "embedded" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, **pipeline.env, "DAGSTER_HOME": str(home), "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
           "CREDENTIAL_CONSECUTIVE_FAILURES_BEFORE_ALERT": "1", "WEBHOOK_RETRY_BACKOFF_BASE": "0.01"}
    pipeline.add("acme", "binance", behaviour="revoked")
    settings = Settings.from_env(env)
    with pipeline.engine.begin() as connection:
        endpoint_id = add_endpoint(connection, "acme", webhook_receiver.url_for("/acme"), ["credential.failed"],
                                   allow_private=True)
    webhook_receiver.set_secrets("/acme", [WebhookSecretStore.from_settings(settings).create(endpoint_id)])

    # Create the instance's storage once, before two processes race to create (and stamp) it.
    DagsterInstance.from_config(str(home)).dispose()
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        executed = subprocess.run(
            [str(BIN / "dagster"), "job", "execute", "-m", "credential_health.definitions",
             "-j", "credential_health_job", "--tags", json.dumps({"dagster/partition": WINDOW})],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert executed.returncode == 0, executed.stdout[-3000:] + executed.stderr[-3000:]
        instance = DagsterInstance.from_config(str(home))
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = notify_runs(instance)
            if runs and all(r.status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE) for r in runs):
                break
            time.sleep(1)
        (run,) = notify_runs(instance)
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.tags["dagster/run_key"].startswith("rollup:")
        (accepted,) = webhook_receiver.accepted("/acme")
        assert accepted.json()["type"] == "credential.failed" and accepted.json()["data"]["tenant_id"] == "acme"
        time.sleep(20)  # more sensor ticks: the same rollup event never launches a second run
        assert len(notify_runs(instance)) == 1 and len(webhook_receiver.received("/acme")) == 1
    finally:
        stop_group(daemon)
