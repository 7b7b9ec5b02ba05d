"""Four delivery worker processes over one outbox: every webhook-id sent once, every row ends as its last attempt."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from credential_health.notify.endpoints import add_endpoint
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.storage.schema import webhook_delivery_log, webhook_events
from credential_health_tests.notify.conftest import put_event
from credential_health_tests.notify.workers import start_worker

TENANTS = 50
REJECTING = {f"tenant-{t:02d}" for t in range(5)}  # these receivers answer 400: each event fails on its one attempt


def test_four_workers_send_each_event_exactly_once_in_order(settings, engine, webhook_receiver, notify_env, tmp_path):
    store = WebhookSecretStore.from_settings(settings)
    webhook_receiver.set_latency(0.2)  # long enough for every worker to start while work is left
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    expected = {}
    for t in range(TENANTS):
        tenant = f"tenant-{t:02d}"
        with engine.begin() as connection:
            endpoint_id = add_endpoint(
                connection,
                tenant,
                webhook_receiver.url_for(f"/{tenant}"),
                ["credential.failed", "credential.recovered"],
                allow_private=True,
            )
        webhook_receiver.set_secrets(f"/{tenant}", [store.create(endpoint_id)])
        if tenant in REJECTING:
            webhook_receiver.script(f"/{tenant}", [400] * 4)
        for key in ("spot", "futures"):  # per credential: failed, then recovered (both due; order must hold)
            for n, event_type in enumerate(("credential.failed", "credential.recovered")):
                (event_id,) = put_event(
                    engine,
                    tenant,
                    [endpoint_id],
                    event_type=event_type,
                    credential_type=key,
                    created_at=start + timedelta(seconds=n),
                    next_attempt_at=start,
                )
                expected[event_id] = (tenant, key, event_type)
    assert len(expected) == 200

    go = tmp_path / "go"
    workers = [start_worker({**notify_env, "WEBHOOK_CONCURRENCY": "5"}, go) for _ in range(4)]
    go.touch()
    reports = []
    for worker in workers:
        out, _ = worker.communicate(timeout=180)
        assert worker.returncode == 0
        reports.append(json.loads(out.strip().splitlines()[-1]))

    received = webhook_receiver.received()
    ids = [r.headers["webhook-id"] for r in received]
    assert sorted(ids) == sorted(expected)  # every webhook-id exactly once, nothing else
    assert sum(r["delivered"] + r["failed"] for r in reports) == 200 and sum(r["lost_leases"] for r in reports) == 0
    assert sum(1 for r in reports if r["delivered"]) >= 2, reports  # the work was shared
    order = defaultdict(list)
    for request in received:
        tenant, key, event_type = expected[request.headers["webhook-id"]]
        order[(tenant, key)].append(event_type)
    assert set(map(tuple, order.values())) == {("credential.failed", "credential.recovered")}

    last_status = {r.headers["webhook-id"]: r.status for r in received}
    with engine.connect() as connection:
        events = {r.event_id: r for r in connection.execute(sa.select(webhook_events))}
        log = list(connection.execute(sa.select(webhook_delivery_log)))
    for event_id, status in last_status.items():
        row = events[event_id]
        assert row.state == ("delivered" if status == 200 else "failed") and row.lease_owner is None, row
        assert row.attempts == 1 and row.delivery_runs == 1
    assert sorted((r.event_id, r.status_code) for r in log) == sorted(last_status.items())
    assert {events[i].tenant_id for i, s in last_status.items() if s == 400} == REJECTING
