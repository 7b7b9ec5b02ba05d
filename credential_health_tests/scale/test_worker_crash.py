"""A Celery worker's task process killed (SIGKILL) mid-shard: the task goes back to the queue, the step runs
again and checks only what it had not stored, and every alerted credential's webhook arrives exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter

from dagster import DagsterEventType
from sqlalchemy import func, select

from credential_health.notify.endpoints import add_endpoint
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.settings import Settings
from credential_health.storage.schema import credential_health_checks
from credential_health_tests.scale.cluster import BIN, ROOT, pool_children
from credential_health_tests.scale.conftest import POSTGRES_ONLY

WINDOW = "2026-06-01-00:00"
TENANTS = [f"tenant-{i:03d}" for i in range(40)]


def stored(pipeline) -> int:
    with pipeline.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(credential_health_checks)).scalar()


@POSTGRES_ONLY
def test_a_worker_killed_mid_window_leaves_one_row_each_and_one_webhook_each(
    pipeline, cluster_factory, webhook_receiver
):
    # Slow keys, few at a time: each shard takes seconds, so the kill lands in the middle of one.
    for i, tenant in enumerate(TENANTS):
        for exchange in ("binance", "kraken"):
            pipeline.add(tenant, exchange, behaviour="revoked" if i % 4 == 0 else "valid", latency_ms=150)
    settings = Settings.from_env({**os.environ, **pipeline.env})
    with pipeline.engine.begin() as connection:
        endpoints = {
            t: add_endpoint(connection, t, webhook_receiver.url_for(f"/{t}"), ["credential.failed"], allow_private=True)
            for t in TENANTS[::4]
        }
    for tenant, endpoint_id in endpoints.items():
        webhook_receiver.set_secrets(f"/{tenant}", [WebhookSecretStore.from_settings(settings).create(endpoint_id)])
    env = {
        **pipeline.env,
        "CREDENTIAL_HEALTH_CHECK_CONCURRENCY": "2",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "CREDENTIAL_CONSECUTIVE_FAILURES_BEFORE_ALERT": "1",
    }
    cluster = cluster_factory(env, ("a", "b"), 4)
    victim = cluster.start_worker(cluster.pools[0], "127.0.0.2", "a")
    cluster.start_worker(cluster.pools[1], "127.0.0.3", "b")

    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(run=cluster.execute(WINDOW)))
    runner.start()
    killed = []
    deadline = time.monotonic() + 300
    while not killed and time.monotonic() < deadline and runner.is_alive():
        if 0 < stored(pipeline) < len(pipeline.secrets) and "validate_shard" in cluster.log("a"):
            for child in pool_children(victim):  # the process running the task, not the worker itself
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)
        time.sleep(0.2)
    runner.join(600)
    run = outcome["run"]
    assert killed, "the shard finished before the kill"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "SIGKILL" in cluster.log("a")  # Celery saw its task process die

    rows = pipeline.checks()
    assert Counter((r["tenant_id"], r["exchange"], r["credential_type"]) for r in rows) == Counter(
        dict.fromkeys(pipeline.secrets, 1)
    )
    instance = cluster.instance()
    try:
        starts = Counter(
            e.step_key
            for e in cluster.step_events(instance, DagsterEventType.STEP_START)
            if "validate_shard" in e.step_key
        )
    finally:
        instance.dispose()
    assert max(starts.values()) >= 2  # the killed shard's step started again (the task came back)

    # The delivery path: two delivery runs after the rollup; each alerted credential's event arrives once.
    for _ in range(2):
        delivered = subprocess.run(
            [str(BIN / "dagster"), "job", "execute", "-m", "credential_health.definitions", "-j", "notify_tenants_job"],
            cwd=ROOT,
            env={**cluster.env, "CREDENTIAL_HEALTH_EXECUTOR": "in_process"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert delivered.returncode == 0, delivered.stdout[-3000:] + delivered.stderr[-3000:]
    alerted = Counter()
    for tenant in endpoints:
        for request in webhook_receiver.accepted(f"/{tenant}"):
            body = request.json()
            assert body["type"] == "credential.failed"
            alerted[(body["data"]["tenant_id"], body["data"]["exchange"])] += 1
    assert alerted == Counter({(t, e): 1 for t in endpoints for e in ("binance", "kraken")})
