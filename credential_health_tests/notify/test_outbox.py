"""Outbox rows written by the real rollup, and their delivery, against a real receiver, real OpenBao and both databases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from credential_health.cli import main
from credential_health.notify.endpoints import Breaker, add_endpoint, record_deliveries
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import notify_tenants
from credential_health.storage.schema import (
    credential_status,
    tenant_webhooks,
    webhook_delivery_log,
    webhook_events,
)
from credential_health_tests.notify.conftest import put_status


def register(settings, engine, receiver, tenant_id: str) -> tuple[str, str]:
    with engine.begin() as connection:
        endpoint_id = add_endpoint(connection, tenant_id, receiver.url_for(f"/{tenant_id}"),
                                   ["credential.failed", "credential.recovered"], allow_private=True)
    secret = WebhookSecretStore.from_settings(settings).create(endpoint_id)
    receiver.set_secrets(f"/{tenant_id}", [secret])
    return endpoint_id, secret


def rows(engine, table, *where):
    with engine.connect() as connection:
        return list(connection.execute(sa.select(table).where(*where)))


def events_of(engine, event_type: str) -> int:
    return len(rows(engine, webhook_events, webhook_events.c.event_type == event_type))


def test_failed_once_per_episode_then_recovered(settings, engine, webhook_receiver):
    register(settings, engine, webhook_receiver, "acme")
    put_status(engine, "acme", 2)
    notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
    assert events_of(engine, "credential.failed") == 0
    put_status(engine, "acme", 3)
    first = notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
    assert events_of(engine, "credential.failed") == 1 and first.dispatch.delivered == 1
    put_status(engine, "acme", 4)  # same episode: no second alert, whatever re-runs happen
    for _ in range(2):
        notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
        assert events_of(engine, "credential.failed") == 1 and events_of(engine, "credential.recovered") == 0
    accepted = webhook_receiver.accepted("/acme")
    assert len(accepted) == 1
    body = accepted[0].json()
    assert body["type"] == "credential.failed"
    assert body["data"]["consecutive_failures"] == 3 and body["data"]["failing_since"] == "2026-11-21T06:00:00Z"
    assert body["data"]["last_error"]["code"] == "auth_rejected"
    assert accepted[0].headers["webhook-id"] == body["data"]["event_id"]

    put_status(engine, "acme", 0, "valid")
    later = datetime.now(timezone.utc) + timedelta(hours=1, seconds=1)  # the one-per-hour slot has passed
    recovered = notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings), now=later)
    assert events_of(engine, "credential.recovered") == 1 and recovered.dispatch.delivered == 1
    assert [r.json()["type"] for r in webhook_receiver.accepted("/acme")] == ["credential.failed", "credential.recovered"]
    assert rows(engine, credential_status)[0].alerted_at is None


def test_at_most_one_webhook_per_credential_per_hour(settings, engine, webhook_receiver):
    register(settings, engine, webhook_receiver, "acme")
    secrets = WebhookSecretStore.from_settings(settings)
    put_status(engine, "acme", 3)
    notify_tenants(settings, engine, secrets)
    put_status(engine, "acme", 0, "valid")
    soon = notify_tenants(settings, engine, secrets)
    assert events_of(engine, "credential.recovered") == 1 and soon.dispatch.delivered == 0
    assert len(webhook_receiver.accepted("/acme")) == 1
    (event,) = rows(engine, webhook_events, webhook_events.c.event_type == "credential.recovered")
    assert event.state == "pending" and event.next_attempt_at > datetime.now(timezone.utc) + timedelta(minutes=59)
    notify_tenants(settings, engine, secrets, now=datetime.now(timezone.utc) + timedelta(hours=1, seconds=1))
    assert len(webhook_receiver.accepted("/acme")) == 2


def test_retries_then_delivers_logging_every_attempt(settings, engine, webhook_receiver):
    register(settings, engine, webhook_receiver, "acme")
    webhook_receiver.script("/acme", [500, 500, 200])
    put_status(engine, "acme", 3)
    report = notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
    assert report.dispatch.delivered == 1
    log = rows(engine, webhook_delivery_log)
    assert [(r.attempt_no, r.status_code) for r in sorted(log, key=lambda r: r.attempt_no)] == [(1, 500), (2, 500), (3, 200)]
    received = webhook_receiver.received("/acme")
    assert len({r.headers["webhook-id"] for r in received}) == 1 and all(r.verified for r in received)
    assert len(webhook_receiver.accepted("/acme")) == 1


def test_receiver_down_keeps_the_event_pending_until_the_next_run(settings, engine, webhook_receiver, closed_port):
    with engine.begin() as connection:
        endpoint_id = add_endpoint(connection, "acme", f"http://127.0.0.1:{closed_port}/acme", ["credential.failed"],
                                   allow_private=True)
    secret = WebhookSecretStore.from_settings(settings).create(endpoint_id)
    put_status(engine, "acme", 3)
    report = notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
    assert report.dispatch.deferred == 1
    (event,) = rows(engine, webhook_events)
    assert event.state == "pending" and event.attempts == settings.webhook_retry_attempts + 1
    # The receiver comes back (the endpoint is moved to it); the next run delivers the same event id.
    webhook_receiver.set_secrets("/acme", [secret])
    with engine.begin() as connection:
        connection.execute(tenant_webhooks.update().values(url=webhook_receiver.url_for("/acme")))
    notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
    (delivered,) = webhook_receiver.accepted("/acme")
    assert delivered.headers["webhook-id"] == event.event_id
    assert rows(engine, webhook_events)[0].state == "delivered"


def test_client_errors_are_not_retried_and_gone_disables(settings, engine, webhook_receiver):
    acme, _ = register(settings, engine, webhook_receiver, "acme")
    globex, _ = register(settings, engine, webhook_receiver, "globex")
    webhook_receiver.script("/acme", [400])
    webhook_receiver.script("/globex", [410])
    put_status(engine, "acme", 3)
    put_status(engine, "globex", 3)
    report = notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
    assert report.dispatch.failed == 1 and report.dispatch.disabled_endpoints == [globex]
    assert len(webhook_receiver.received("/acme")) == 1 and len(webhook_receiver.received("/globex")) == 1
    states = {r.tenant_id: r.state for r in rows(engine, webhook_events)}
    assert states == {"acme": "failed", "globex": "pending"}  # kept, not lost, while the endpoint is disabled
    (gone,) = rows(engine, tenant_webhooks, tenant_webhooks.c.endpoint_id == globex)
    assert not gone.active and "410" in gone.disabled_reason


def test_breaker_needs_both_the_count_and_the_period(engine, settings):
    with engine.begin() as connection:
        endpoint_id = add_endpoint(connection, "acme", "https://hooks.example.com/x", ["credential.failed"],
                                   allow_private=True, resolver=lambda host, port: ["93.184.216.34"])
    breaker = Breaker(failures=3, min_failing=timedelta(hours=24))
    start = datetime.now(timezone.utc)
    with engine.begin() as connection:
        burst = [(endpoint_id, False, False, start + timedelta(minutes=n)) for n in range(5)]
        assert record_deliveries(connection, burst, breaker) == []  # many failures within minutes: no trip
    assert rows(engine, tenant_webhooks)[0].consecutive_failures == 5
    with engine.begin() as connection:  # a success resets the count
        assert record_deliveries(connection, [(endpoint_id, True, False, start + timedelta(hours=1))], breaker) == []
    assert rows(engine, tenant_webhooks)[0].consecutive_failures == 0
    with engine.begin() as connection:
        late = [(endpoint_id, False, False, start + timedelta(hours=h)) for h in (2, 3, 20, 25)]
        assert record_deliveries(connection, late, breaker) == []  # the count is reached, the period is not
        assert record_deliveries(connection, [(endpoint_id, False, False, start + timedelta(hours=27))], breaker) == [endpoint_id]
    (row,) = rows(engine, tenant_webhooks)
    assert not row.active and row.disabled_reason.startswith("circuit breaker: 5 consecutive failed deliveries")


def test_removed_credentials_are_never_alerted(engine):
    put_status(engine, "gone", 5, present=False)
    assert events_of(engine, "credential.failed") == 0


def test_no_endpoint_records_an_undeliverable_event(settings, engine):
    put_status(engine, "lonely", 3)
    notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
    (event,) = rows(engine, webhook_events)
    assert event.state == "undeliverable" and "no active webhook endpoint" in event.last_error


def test_cli_add_rotate_test_replay(settings, engine, webhook_receiver, capsys):
    url = webhook_receiver.url_for("/acme")
    assert main(["webhooks", "add", "acme", url]) == 0
    out = capsys.readouterr().out
    old_secret = out.split("signing secret")[1].split(": ")[1].strip()
    assert old_secret.startswith("whsec_")
    webhook_receiver.set_secrets("/acme", [old_secret])
    assert main(["webhooks", "test", "acme"]) == 0
    assert main(["webhooks", "rotate-secret", "acme"]) == 0
    new_secret = capsys.readouterr().out.strip().rsplit(": ", 1)[1]
    webhook_receiver.set_secrets("/acme", [new_secret])  # a receiver that already switched verifies
    assert main(["webhooks", "test", "acme"]) == 0
    webhook_receiver.set_secrets("/acme", [old_secret])  # and one that has not switched yet, too
    assert main(["webhooks", "test", "acme"]) == 0
    tests = webhook_receiver.accepted("/acme")
    assert [r.json()["type"] for r in tests] == ["webhook.test"] * 3
    first_id = tests[0].headers["webhook-id"]
    assert main(["webhooks", "replay", "--event", first_id]) == 0
    assert webhook_receiver.accepted("/acme")[-1].headers["webhook-id"] == first_id
    assert main(["webhooks", "list"]) == 0
    listing = capsys.readouterr().out
    assert "acme" in listing and "whsec_" not in listing
    assert main(["webhooks", "disable", "acme", "--reason", "tenant asked"]) == 0
    assert main(["webhooks", "test", "acme"]) == 2
    assert main(["webhooks", "enable", "acme"]) == 0
    assert main(["webhooks", "add", "acme", "ftp://example.com/x"]) == 2
    # No signing secret ever lands in a table.
    with engine.connect() as connection:
        for table in (tenant_webhooks, webhook_events, webhook_delivery_log):
            dump = json.dumps([list(map(str, r)) for r in connection.execute(sa.select(table))])
            assert "whsec_" not in dump and old_secret[6:] not in dump and new_secret[6:] not in dump
