"""Webhook delivery throughput through the real claiming worker (leases), transport and a receiver process.

1,000 due credential.failed events (100 tenants x 10 credentials) to a receiver in another process that
answers after 50 ms. Prints each figure next to its target and exits 1 when one is missed:
  baseline   a plain sequential httpx loop (signed by hand, no project code), measured in the same run
  (a)        one delivery worker, SQLite:                              <= 5 s
  (b)        one delivery worker, PostgreSQL:                           <= 5 s
  (c)        four worker processes, PostgreSQL, same events:            every webhook-id exactly once (time reported)
  (d)        one worker, 10% of endpoints answering 500:                healthy endpoints slowed by <= 20%

    .venv/bin/python bench/notify_throughput.py [--events 1000] [--latency 0.05] [--baseline-events 200]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from credential_health.notify.endpoints import add_endpoint
from credential_health.notify.outbox import event_rows
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.sandbox.openbao import start_openbao
from credential_health.sandbox.ports import free_port
from credential_health.settings import Settings
from credential_health.storage.database import make_engine, upgrade
from credential_health.storage.schema import webhook_delivery_log, webhook_events
from credential_health_tests.fixtures.services import POSTGRES_ADMIN_URL
from credential_health_tests.notify.workers import start_worker

TENANTS = 100
TARGET_SECONDS = 5.0
TARGET_SLOWDOWN = 0.20


def start_receiver(latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "credential_health.sandbox.webhook_receiver",
            "--port",
            str(port),
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    process.stdout.readline()
    return process, f"http://127.0.0.1:{port}"


def postgres_url(name: str) -> str:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def prepare(settings: Settings, receiver: str, events: int, failing: set[int]) -> sa.Engine:
    """Endpoints (secrets in Vault and the receiver) and `events` due outbox rows, as the rollup writes them."""
    engine = make_engine(settings.database_url.get_secret_value())
    upgrade(engine)
    store = WebhookSecretStore.from_settings(settings)
    now = datetime.now(timezone.utc)
    per_tenant = events // TENANTS
    with engine.begin() as connection:
        for t in range(TENANTS):
            tenant = f"tenant-{t:03d}"
            endpoint_id = add_endpoint(
                connection, tenant, f"{receiver}/{tenant}", ["credential.failed"], allow_private=True
            )
            requests.post(
                f"{receiver}/__receiver/secrets",
                json={"path": f"/{tenant}", "secrets": [store.create(endpoint_id)]},
                timeout=10,
            )
            if t in failing:
                requests.post(
                    f"{receiver}/__receiver/script",
                    json={"path": f"/{tenant}", "responses": [500] * (per_tenant * 10)},
                    timeout=10,
                )
            rows = []
            for c in range(per_tenant):
                status = _status(tenant, f"key-{c}", now)
                rows += event_rows("credential.failed", "bench", status, tenant, 3, now, now, [endpoint_id])
            connection.execute(webhook_events.insert(), rows)
    return engine


def _status(tenant: str, key: str, now: datetime):
    from types import SimpleNamespace

    return SimpleNamespace(
        tenant_id=tenant,
        exchange="binance",
        credential_type=key,
        last_status="invalid",
        consecutive_failures=3,
        failing_since=now - timedelta(hours=18),
        last_checked_at=now,
        last_success_at=None,
        last_error_code="auth_rejected",
        last_error_message=None,
    )


def received_ids(receiver: str) -> Counter:
    records = requests.get(f"{receiver}/__receiver/received", timeout=60).json()
    return Counter(r["headers"]["webhook-id"] for r in records if r["status"] == 200)


def baseline(receiver: str, events: int) -> float:
    """Seconds for a plain sequential httpx loop to send `events` signed webhooks (one fresh tenant path)."""
    key = os.urandom(24)
    secret = "whsec_" + base64.b64encode(key).decode()
    requests.post(f"{receiver}/__receiver/secrets", json={"path": "/baseline", "secrets": [secret]}, timeout=10)
    started = time.perf_counter()
    with httpx.Client(trust_env=False, timeout=10) as client:
        for n in range(events):
            body = json.dumps({"type": "credential.failed", "data": {"n": n}}).encode()
            msg_id, stamp = f"msg_baseline{n}", str(int(time.time()))
            signature = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
            response = client.post(
                f"{receiver}/baseline",
                content=body,
                headers={
                    "webhook-id": msg_id,
                    "webhook-timestamp": stamp,
                    "webhook-signature": "v1," + signature.decode(),
                    "content-type": "application/json",
                },
            )
            response.raise_for_status()
    return time.perf_counter() - started


def run(openbao, args, database: str, failing: set[int], workers: int, label: str) -> dict:
    receiver, url = start_receiver(args.latency)
    folder = tempfile.mkdtemp(prefix="notify-bench-")
    name = os.path.basename(folder).replace("-", "_")
    env = {
        "VAULT_ADDR": openbao.addr,
        "VAULT_TOKEN": openbao.root_token,
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "CREDENTIAL_HEALTH_DATABASE_URL": postgres_url(name) if database == "postgres" else f"sqlite:///{folder}/r.db",
        "WEBHOOK_CONCURRENCY": str(args.concurrency),
        "VAULT_WEBHOOK_SECRETS_PATH": f"bench/{name}",
    }
    try:
        settings = Settings.from_env(env)
        engine = prepare(settings, url, args.events, failing)
        base = baseline(url, args.baseline_events) * args.events / args.baseline_events if label == "(a)" else None
        started = datetime.now(timezone.utc)
        if workers == 1:
            t0 = time.perf_counter()
            report = dispatch(settings, engine, WebhookSecretStore.from_settings(settings))
            wall, delivered = time.perf_counter() - t0, report.delivered
        else:
            go = Path(folder) / "go"
            processes = [start_worker(env, go) for _ in range(workers)]
            time.sleep(3)  # let every process import and connect before the clock starts
            t0 = time.perf_counter()
            go.touch()
            outs = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in processes]
            wall, delivered = time.perf_counter() - t0, sum(o["delivered"] for o in outs)
        with engine.connect() as connection:
            done = connection.execute(
                sa.select(sa.func.max(webhook_delivery_log.c.attempted_at)).where(
                    webhook_delivery_log.c.status_code == 200
                )
            ).scalar_one()
        ids = received_ids(url)
        return {
            "wall": wall,
            "delivered": delivered,
            "baseline": base,
            "ids": ids,
            "healthy": (done - started).total_seconds() + args.latency,
        }
    finally:
        receiver.terminate()
        receiver.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--baseline-events", type=int, default=200)
    args = parser.parse_args()
    openbao = start_openbao()
    misses = []

    def figure(label: str, text: str, ok: bool) -> None:
        print(f"{label:<4} {text}  [{'ok' if ok else 'MISSED'}]", flush=True)
        if not ok:
            misses.append(label)

    try:
        n = args.events
        a = run(openbao, args, "sqlite", set(), 1, "(a)")
        print(
            f"baseline: plain sequential httpx loop, {args.baseline_events} events measured, "
            f"{a['baseline']:.1f} s for {n} (extrapolated)"
        )
        figure(
            "(a)",
            f"1 worker, SQLite:      {a['delivered']} delivered in {a['wall']:5.2f} s "
            f"(target <= {TARGET_SECONDS:g} s; {a['baseline'] / a['wall']:.0f}x the baseline)",
            a["wall"] <= TARGET_SECONDS and a["delivered"] == n,
        )
        b = run(openbao, args, "postgres", set(), 1, "(b)")
        figure(
            "(b)",
            f"1 worker, PostgreSQL:  {b['delivered']} delivered in {b['wall']:5.2f} s (target <= {TARGET_SECONDS:g} s)",
            b["wall"] <= TARGET_SECONDS and b["delivered"] == n,
        )
        c = run(openbao, args, "postgres", set(), 4, "(c)")
        once = len(c["ids"]) == n and set(c["ids"].values()) == {1}
        figure(
            "(c)",
            f"4 workers, PostgreSQL: {c['delivered']} delivered in {c['wall']:5.2f} s (reported), "
            f"{len(c['ids'])} distinct webhook-ids, {sum(c['ids'].values()) - len(c['ids'])} duplicates "
            f"(target: all {n}, each exactly once)",
            once and c["delivered"] == n,
        )
        d = run(openbao, args, "sqlite", set(range(0, TENANTS, 10)), 1, "(d)")
        slowdown = d["healthy"] / a["healthy"] - 1
        figure(
            "(d)",
            f"10% failing: healthy endpoints done after {d['healthy']:.2f} s vs {a['healthy']:.2f} s: "
            f"{slowdown:+.0%} (target <= +{TARGET_SLOWDOWN:.0%})",
            slowdown <= TARGET_SLOWDOWN,
        )
    finally:
        openbao.stop()
    print("all targets met" if not misses else f"missed: {', '.join(misses)}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
