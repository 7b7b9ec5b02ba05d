"""A delivery worker killed mid-delivery: its lease expires and the next worker sends the same webhook-ids."""

from __future__ import annotations

import signal
import time
from datetime import datetime, timezone

import sqlalchemy as sa

from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.storage.schema import webhook_delivery_log, webhook_events
from credential_health_tests.notify.conftest import put_event
from credential_health_tests.notify.test_outbox import register
from credential_health_tests.notify.workers import start_worker

TENANTS = ("acme", "globex", "initech")


def test_sigkill_mid_delivery_is_completed_by_the_next_worker(settings, engine, webhook_receiver, notify_env):
    events = {}
    for tenant in TENANTS:
        endpoint_id, _ = register(settings, engine, webhook_receiver, tenant)
        webhook_receiver.script(f"/{tenant}", [{"status": 200, "delay": 30}])  # hangs while we kill the sender
        (events[tenant],) = put_event(engine, tenant, [endpoint_id])
    lease_seconds = 3
    env = {**notify_env, "WEBHOOK_TIMEOUT_SECONDS": "60", "WEBHOOK_LEASE_SECONDS": str(lease_seconds)}
    process = start_worker(env)
    deadline = time.monotonic() + 60
    while len(webhook_receiver.received()) < len(TENANTS) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert len(webhook_receiver.received()) == len(TENANTS), "the first delivery attempts never arrived"
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    killed_at = time.monotonic()

    with engine.connect() as connection:
        rows = {r.tenant_id: r for r in connection.execute(sa.select(webhook_events))}
    for tenant in TENANTS:  # committed before the HTTP attempt, still leased to the dead worker
        row = rows[tenant]
        assert row.state == "pending" and row.attempts == 0 and row.lease_owner is not None
        assert row.lease_expires_at > datetime.now(timezone.utc) or time.monotonic() - killed_at > lease_seconds
    first_ids = {r.path.strip("/"): r.headers["webhook-id"] for r in webhook_receiver.received()}
    assert first_ids == events

    secrets = WebhookSecretStore.from_settings(settings)
    if time.monotonic() - killed_at < lease_seconds - 1:  # while the lease lasts, nobody else takes the events
        assert dispatch(settings, engine, secrets).delivered == 0
    time.sleep(max(0.0, lease_seconds - (time.monotonic() - killed_at)) + 0.5)
    report = dispatch(settings, engine, secrets)
    assert report.delivered == len(TENANTS) and report.lost_leases == 0
    for tenant in TENANTS:
        (accepted,) = webhook_receiver.accepted(f"/{tenant}")
        assert accepted.headers["webhook-id"] == events[tenant]
    with engine.connect() as connection:
        assert {r.state for r in connection.execute(sa.select(webhook_events))} == {"delivered"}
        log = connection.execute(sa.select(webhook_delivery_log)).all()
    assert sorted(r.event_id for r in log) == sorted(events.values())  # the lost attempt left no outcome
