"""Webhook notification throughput through the real outbox, dispatcher and transport.

1,000 credential.failed events (100 tenants x 10 credentials) to a receiver in another process
that answers after 50 ms. Prints (a) wall time and its ratio to the sequential time (goal <= 5 s),
(b) the same with 10% of endpoints answering 500 (goal: healthy endpoints slowed by <= 20%).

    .venv/bin/python bench/notify_throughput.py [--events 1000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from credential_health.notify.endpoints import add_endpoint  # noqa: E402
from credential_health.notify.secrets import WebhookSecretStore  # noqa: E402
from credential_health.notify.service import notify_tenants  # noqa: E402
from credential_health.settings import Settings  # noqa: E402
from credential_health.storage.database import make_engine, upgrade  # noqa: E402
from credential_health.storage.schema import credential_status, webhook_delivery_log  # noqa: E402
from credential_health_tests.fixtures.services import free_port, start_openbao  # noqa: E402

TENANTS = 100


def start_receiver(latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "credential_health.sandbox.webhook_receiver", "--port", str(port),
                                "--latency", str(latency)], stdout=subprocess.PIPE, text=True)
    process.stdout.readline()
    return process, f"http://127.0.0.1:{port}"


def prepare(settings: Settings, receiver: str, events: int, failing: set[int]) -> sa.Engine:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    store = WebhookSecretStore.from_settings(settings)
    now = datetime.now(timezone.utc)
    per_tenant = events // TENANTS
    with engine.begin() as connection:
        for t in range(TENANTS):
            tenant = f"tenant-{t:03d}"
            endpoint_id = add_endpoint(connection, tenant, f"{receiver}/{tenant}", ["credential.failed"], allow_private=True)
            requests.post(f"{receiver}/__receiver/secrets",
                          json={"path": f"/{tenant}", "secrets": [store.create(endpoint_id)]}, timeout=10)
            if t in failing:
                requests.post(f"{receiver}/__receiver/script",
                              json={"path": f"/{tenant}", "responses": [500] * (per_tenant * 10)}, timeout=10)
            connection.execute(credential_status.insert(), [dict(
                tenant_id=tenant, exchange="binance", credential_type=f"key-{c}", last_status="invalid",
                last_error_code="auth_rejected", consecutive_failures=3, failing_since=now - timedelta(hours=18),
                windows_seen=3, present_in_inventory=True, updated_at=now) for c in range(per_tenant)])
    return engine


def run(openbao, events: int, latency: float, concurrency: int, failing: set[int], label: str) -> dict:
    receiver, url = start_receiver(latency)
    folder = tempfile.mkdtemp(prefix="notify-bench-")
    env = {"VAULT_ADDR": openbao.addr, "VAULT_TOKEN": openbao.root_token,
           "CREDENTIAL_HEALTH_DATABASE_URL": f"sqlite:///{folder}/results.db", "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
           "WEBHOOK_CONCURRENCY": str(concurrency), "VAULT_WEBHOOK_SECRETS_PATH": f"bench/{os.path.basename(folder)}"}
    try:
        settings = Settings.from_env(env)
        engine = prepare(settings, url, events, failing)
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        report = notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
        wall = time.perf_counter() - t0
        with engine.connect() as connection:
            done = connection.execute(sa.select(sa.func.max(webhook_delivery_log.c.attempted_at)).where(
                webhook_delivery_log.c.status_code == 200)).scalar_one()
        healthy = (done - started).total_seconds() + latency
        print(f"{label:<34} delivered {report.dispatch.delivered:5d}  pending {report.dispatch.deferred:4d}  "
              f"wall {wall:6.2f} s  healthy endpoints done after {healthy:6.2f} s")
        return {"wall": wall, "healthy": healthy, "delivered": report.dispatch.delivered}
    finally:
        receiver.terminate()
        receiver.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    openbao = start_openbao()
    try:
        sample = run(openbao, TENANTS, args.latency, 1, set(), "sequential sample (100, concurrency 1)")
        sequential = sample["wall"] * args.events / TENANTS
        healthy = run(openbao, args.events, args.latency, args.concurrency, set(), f"{args.events} events, all healthy")
        failing = set(range(0, TENANTS, 10))
        faulty = run(openbao, args.events, args.latency, args.concurrency, failing, f"{args.events} events, 10% failing")
        print(f"\n(a) wall {healthy['wall']:.2f} s vs sequential {sequential:.1f} s (extrapolated from 100): "
              f"ratio {healthy['wall'] / sequential:.3f}  (goal: <= 5 s)")
        slowdown = faulty["healthy"] / healthy["healthy"] - 1
        print(f"(b) healthy endpoints finish after {faulty['healthy']:.2f} s with 10% failing vs "
              f"{healthy['healthy']:.2f} s: {slowdown:+.0%}  (goal: <= +20%)")
    finally:
        openbao.stop()


if __name__ == "__main__":
    main()
