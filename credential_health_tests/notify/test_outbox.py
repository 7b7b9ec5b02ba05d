"""Outbox delivery against a real receiver, real OpenBao and both databases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from credential_health.cli import main
from credential_health.notify.endpoints import Breaker, add_endpoint, record_deliveries
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.storage.schema import (
    tenant_webhooks,
    webhook_delivery_log,
    webhook_events,
)
from credential_health_tests.notify.conftest import put_event, register, rows


def send(settings, engine, **kwargs):
    return dispatch(settings, engine, WebhookSecretStore.from_settings(settings), **kwargs)


def test_failed_then_recovered_in_order_and_each_once(settings, engine, webhook_receiver):
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    start = datetime.now(timezone.utc)
    put_event(engine, "acme", [endpoint_id], created_at=start)
    put_event(
        engine,
        "acme",
        [endpoint_id],
        event_type="credential.recovered",
        created_at=start + timedelta(seconds=1),
        next_attempt_at=start,
    )  # both due: the recovery still waits for the failure to be settled
    report = send(settings, engine)
    assert report.delivered == 2
    for _ in range(2):  # more runs send nothing again
        assert send(settings, engine).delivered == 0
    accepted = webhook_receiver.accepted("/acme")
    assert [r.json()["type"] for r in accepted] == ["credential.failed", "credential.recovered"]
    body = accepted[0].json()
    assert body["data"]["consecutive_failures"] == 3 and body["data"]["failing_since"] == "2026-11-21T06:00:00Z"
    assert accepted[0].headers["webhook-id"] == body["data"]["event_id"]
    assert {r.state for r in rows(engine, webhook_events)} == {"delivered"}
    assert {r.lease_owner for r in rows(engine, webhook_events)} == {None}


def test_a_held_event_waits_for_its_slot(settings, engine, webhook_receiver):
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    slot = datetime.now(timezone.utc) + timedelta(hours=1)
    (event_id,) = put_event(engine, "acme", [endpoint_id], event_type="credential.recovered", next_attempt_at=slot)
    assert send(settings, engine).delivered == 0 and not webhook_receiver.received("/acme")
    (event,) = rows(engine, webhook_events)
    assert event.state == "pending" and event.lease_owner is None
    assert send(settings, engine, now=slot + timedelta(seconds=1)).delivered == 1
    assert webhook_receiver.accepted("/acme")[0].headers["webhook-id"] == event_id


def test_retries_then_delivers_logging_every_attempt(settings, engine, webhook_receiver):
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    webhook_receiver.script("/acme", [500, 500, 200])
    put_event(engine, "acme", [endpoint_id])
    assert send(settings, engine).delivered == 1
    log = rows(engine, webhook_delivery_log)
    attempts = [(r.attempt_no, r.status_code) for r in sorted(log, key=lambda r: r.attempt_no)]
    assert attempts == [(1, 500), (2, 500), (3, 200)]
    received = webhook_receiver.received("/acme")
    assert len({r.headers["webhook-id"] for r in received}) == 1 and all(r.verified for r in received)
    assert len(webhook_receiver.accepted("/acme")) == 1


def test_receiver_down_keeps_the_event_pending_until_the_next_run(settings, engine, webhook_receiver, closed_port):
    with engine.begin() as connection:
        endpoint_id = add_endpoint(
            connection, "acme", f"http://127.0.0.1:{closed_port}/acme", ["credential.failed"], allow_private=True
        )
    secret = WebhookSecretStore.from_settings(settings).create(endpoint_id)
    put_event(engine, "acme", [endpoint_id])
    report = send(settings, engine)
    assert report.deferred == 1
    (event,) = rows(engine, webhook_events)
    assert event.state == "pending" and event.attempts == settings.webhook_retry_attempts + 1
    assert event.delivery_runs == 1 and event.lease_owner is None
    wait = event.next_attempt_at - datetime.now(timezone.utc)
    assert timedelta(seconds=50) < wait <= timedelta(seconds=settings.webhook_redelivery_delay_seconds)
    assert send(settings, engine).delivered == 0  # not before its redelivery time
    # The receiver comes back (the endpoint is moved to it); the next run delivers the same event id.
    webhook_receiver.set_secrets("/acme", [secret])
    with engine.begin() as connection:
        connection.execute(tenant_webhooks.update().values(url=webhook_receiver.url_for("/acme")))
    send(settings, engine, now=event.next_attempt_at)
    (delivered,) = webhook_receiver.accepted("/acme")
    assert delivered.headers["webhook-id"] == event.event_id
    assert rows(engine, webhook_events)[0].state == "delivered"


def test_client_errors_are_not_retried_and_gone_disables(settings, engine, webhook_receiver):
    acme, _ = register(settings, engine, webhook_receiver, "acme")
    globex, _ = register(settings, engine, webhook_receiver, "globex")
    webhook_receiver.script("/acme", [400])
    webhook_receiver.script("/globex", [410])
    put_event(engine, "acme", [acme])
    put_event(engine, "globex", [globex])
    report = send(settings, engine)
    assert report.failed == 1 and report.disabled_endpoints == [globex]
    assert len(webhook_receiver.received("/acme")) == 1 and len(webhook_receiver.received("/globex")) == 1
    states = {r.tenant_id: r.state for r in rows(engine, webhook_events)}
    assert states == {"acme": "failed", "globex": "pending"}  # kept, not lost, while the endpoint is disabled
    (gone,) = rows(engine, tenant_webhooks, tenant_webhooks.c.endpoint_id == globex)
    assert not gone.active and "410" in gone.disabled_reason


def test_breaker_needs_both_the_count_and_the_period(engine, settings):
    with engine.begin() as connection:
        endpoint_id = add_endpoint(
            connection,
            "acme",
            "https://hooks.example.com/x",
            ["credential.failed"],
            allow_private=True,
            resolver=lambda host, port: ["93.184.216.34"],
        )
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
        assert record_deliveries(connection, [(endpoint_id, False, False, start + timedelta(hours=27))], breaker) == [
            endpoint_id
        ]
    (row,) = rows(engine, tenant_webhooks)
    assert not row.active and row.disabled_reason.startswith("circuit breaker: 5 consecutive failed deliveries")


def test_no_endpoint_records_an_undeliverable_event(settings, engine):
    put_event(engine, "lonely", [])
    assert send(settings, engine).delivered == 0
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
