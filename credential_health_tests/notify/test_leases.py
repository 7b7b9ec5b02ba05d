"""Leases against a real receiver and both databases: renewed while a delivery runs, outcomes only while held."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.storage.schema import tenant_webhooks, webhook_delivery_log, webhook_events
from credential_health.vault import paths as vault_paths
from credential_health_tests.notify.conftest import put_event
from credential_health_tests.notify.test_outbox import register, rows


def wait_for_request(receiver, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not receiver.received(path):
        assert time.monotonic() < deadline, "the delivery attempt never arrived"
        time.sleep(0.02)


def test_a_lease_is_renewed_while_the_delivery_runs(settings, engine, webhook_receiver):
    settings = settings.model_copy(update=dict(webhook_lease_seconds=1.5, webhook_timeout_seconds=10))
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    webhook_receiver.script("/acme", [{"status": 200, "delay": 4}])  # longer than the lease
    (event_id,) = put_event(engine, "acme", [endpoint_id])
    secrets = WebhookSecretStore.from_settings(settings)
    first = {}
    worker = threading.Thread(target=lambda: first.update(report=dispatch(settings, engine, secrets)))
    worker.start()
    wait_for_request(webhook_receiver, "/acme")
    time.sleep(2.5)  # past the first lease: only the renewal keeps the event ours
    assert dispatch(settings, engine, secrets).delivered == 0  # a second worker finds nothing to claim
    worker.join(30)
    assert first["report"].delivered == 1 and first["report"].lost_leases == 0
    assert [r.headers["webhook-id"] for r in webhook_receiver.received("/acme")] == [event_id]


def test_an_outcome_is_not_written_without_the_lease(settings, engine, webhook_receiver):
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    webhook_receiver.script("/acme", [{"status": 500, "delay": 1}])
    put_event(engine, "acme", [endpoint_id])
    secrets = WebhookSecretStore.from_settings(settings)
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(
            report=dispatch(settings.model_copy(update=dict(webhook_retry_attempts=0)), engine, secrets)
        )
    )
    worker.start()
    wait_for_request(webhook_receiver, "/acme")
    with engine.begin() as connection:  # as if our lease had expired and another worker had claimed the event
        connection.execute(webhook_events.update().values(lease_owner="another-worker"))
    worker.join(30)
    assert result["report"].lost_leases == 1 and result["report"].deferred == 0
    (event,) = rows(engine, webhook_events)
    assert event.state == "pending" and event.attempts == 0 and event.lease_owner == "another-worker"
    assert rows(engine, webhook_delivery_log) == []
    assert rows(engine, tenant_webhooks)[0].consecutive_failures == 0  # nor the breaker counters


def test_a_missing_signing_secret_sends_nothing_and_retries_later(settings, engine, webhook_receiver, openbao):
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    openbao.root().secrets.kv.v2.delete_metadata_and_all_versions(
        path=vault_paths.webhook_secret(settings.vault_webhook_secrets_path, endpoint_id),
        mount_point=settings.vault_kv_mount,
    )
    put_event(engine, "acme", [endpoint_id])
    report = dispatch(settings, engine, WebhookSecretStore.from_settings(settings))
    assert report.deferred == 1 and webhook_receiver.received() == []
    (event,) = rows(engine, webhook_events)
    assert (event.state, event.last_error, event.delivery_runs, event.lease_owner) == (
        "pending",
        "signing_secret_unavailable",
        1,
        None,
    )
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(webhook_delivery_log)).scalar() == 0
