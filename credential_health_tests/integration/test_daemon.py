"""The real dagster-daemon: the rollup sensor launches a delivery run after a `dagster job execute` rollup
crosses the threshold, and the delivery sensor relaunches delivery until a failed webhook is delivered."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
import sqlalchemy as sa
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType

from credential_health.notify.endpoints import add_endpoint
from credential_health.notify.outbox import event_rows
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.settings import Settings
from credential_health.storage.schema import webhook_events

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


def test_daemon_sensor_launches_a_notify_run_that_delivers_once(pipeline, webhook_receiver, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "embedded" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        **pipeline.env,
        "DAGSTER_HOME": str(home),
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "CREDENTIAL_CONSECUTIVE_FAILURES_BEFORE_ALERT": "1",
        "WEBHOOK_RETRY_BACKOFF_BASE": "0.01",
    }
    pipeline.add("acme", "binance", behaviour="revoked")
    settings = Settings.from_env(env)
    with pipeline.engine.begin() as connection:
        endpoint_id = add_endpoint(
            connection, "acme", webhook_receiver.url_for("/acme"), ["credential.failed"], allow_private=True
        )
    webhook_receiver.set_secrets("/acme", [WebhookSecretStore.from_settings(settings).create(endpoint_id)])

    # Create the instance's storage once, before two processes race to create (and stamp) it.
    DagsterInstance.from_config(str(home)).dispose()
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        executed = subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "execute",
                "-m",
                "credential_health.definitions",
                "-j",
                "credential_health_job",
                "--tags",
                json.dumps({"dagster/partition": WINDOW}),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert executed.returncode == 0, executed.stdout[-3000:] + executed.stderr[-3000:]
        instance = DagsterInstance.from_config(str(home))
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = notify_runs(instance)
            # The delivery sensor may see the event (and deliver it) before the rollup sensor ticks: wait for both.
            launched_by_rollup = any(r.tags["dagster/run_key"].startswith("rollup:") for r in runs)
            if launched_by_rollup and all(
                r.status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE) for r in runs
            ):
                break
            time.sleep(1)
        runs = notify_runs(instance)
        assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}
        # The rollup sensor's run, and perhaps the delivery sensor's if it saw the event first (it then finds
        # nothing to claim): one run per sensor at most, and one delivery.
        keys = sorted(r.tags["dagster/run_key"].split(":")[0] for r in runs)
        assert keys in (["rollup"], ["delivery", "rollup"]), keys
        (accepted,) = webhook_receiver.accepted("/acme")
        assert accepted.json()["type"] == "credential.failed" and accepted.json()["data"]["tenant_id"] == "acme"
        time.sleep(20)  # more sensor ticks: the same rollup event never launches a second run
        assert len(notify_runs(instance)) == len(runs) and len(webhook_receiver.received("/acme")) == 1
    finally:
        stop_group(daemon)


def start_daemon(home: Path, env: dict[str, str]) -> subprocess.Popen:
    """The real dagster-daemon on the embedded instance config (created first, so two processes cannot race)."""
    shutil.copy(ROOT / "deploy" / "embedded" / "dagster.yaml", home / "dagster.yaml")
    DagsterInstance.from_config(str(home)).dispose()
    return subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for_a_sensor_tick(instance: DagsterInstance, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.name == name and instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1):
                return
        time.sleep(1)
    raise AssertionError(f"{name} never ticked")


def test_delivery_sensor_redelivers_after_a_503_within_two_minutes(pipeline, webhook_receiver, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    # No retry inside a delivery run: only a new run, launched by the delivery sensor, can deliver.
    env = {
        **os.environ,
        **pipeline.env,
        "DAGSTER_HOME": str(home),
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "WEBHOOK_RETRY_ATTEMPTS": "0",
        "WEBHOOK_REDELIVERY_DELAY_SECONDS": "5",
    }
    settings = Settings.from_env(env)
    with pipeline.engine.begin() as connection:
        endpoint_id = add_endpoint(
            connection, "acme", webhook_receiver.url_for("/acme"), ["credential.failed"], allow_private=True
        )
    webhook_receiver.set_secrets("/acme", [WebhookSecretStore.from_settings(settings).create(endpoint_id)])
    webhook_receiver.script("/acme", [503])  # the first attempt; 200 afterwards

    daemon = start_daemon(home, env)
    try:
        instance = DagsterInstance.from_config(str(home))
        wait_for_a_sensor_tick(instance, "webhook_delivery_sensor")
        now = datetime.now(timezone.utc)
        rows = event_rows("credential.failed", "e1", None, "acme", 3, now, now, [endpoint_id], {"tenant_id": "acme"})
        with pipeline.engine.begin() as connection:  # as the rollup writes it: due at once
            connection.execute(webhook_events.insert(), rows)
        due = time.monotonic()
        (_,) = webhook_receiver.wait_for_accepted(1, "/acme", timeout=120)
        took = time.monotonic() - due
        received = webhook_receiver.received("/acme")
        assert [r.status for r in received] == [503, 200] and took <= 120, took
        print(f"delivered {took:.0f} s after the event fell due")
        assert {r.headers["webhook-id"] for r in received} == {rows[0]["event_id"]}
        deadline = time.monotonic() + 60
        while any(r.status not in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE) for r in notify_runs(instance)):
            assert time.monotonic() < deadline
            time.sleep(1)
        with pipeline.engine.connect() as connection:
            (event,) = connection.execute(sa.select(webhook_events)).all()
        assert (event.state, event.delivery_runs, event.attempts) == ("delivered", 2, 2)
        runs = notify_runs(instance)
        assert len(runs) == 2 and {r.status for r in runs} == {DagsterRunStatus.SUCCESS}
        assert all(r.tags["dagster/run_key"].startswith("delivery:after:") for r in runs)
        assert instance.get_runs(RunsFilter(job_name="credential_health_job")) == []  # no new window
    finally:
        stop_group(daemon)
