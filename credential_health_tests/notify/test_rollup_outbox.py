"""Outbox rows the real rollup writes (one per episode open/close and endpoint, once-per-hour slots), delivered
by the claiming worker to a real receiver, with real OpenBao, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.storage.schema import credential_status, webhook_events
from credential_health_tests.notify.conftest import put_status, register, rows


def events_of(engine, event_type: str) -> int:
    return len(rows(engine, webhook_events, webhook_events.c.event_type == event_type))


def test_failed_once_per_episode_then_recovered(settings, engine, webhook_receiver):
    register(settings, engine, webhook_receiver, "acme")
    put_status(engine, "acme", 2)
    dispatch(settings, engine, WebhookSecretStore.from_settings(settings))
    assert events_of(engine, "credential.failed") == 0
    put_status(engine, "acme", 3)
    first = dispatch(settings, engine, WebhookSecretStore.from_settings(settings))
    assert events_of(engine, "credential.failed") == 1 and first.delivered == 1
    put_status(engine, "acme", 4)  # same episode: no second alert, whatever re-runs happen
    for _ in range(2):
        dispatch(settings, engine, WebhookSecretStore.from_settings(settings))
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
    recovered = dispatch(settings, engine, WebhookSecretStore.from_settings(settings), now=later)
    assert events_of(engine, "credential.recovered") == 1 and recovered.delivered == 1
    assert [r.json()["type"] for r in webhook_receiver.accepted("/acme")] == [
        "credential.failed",
        "credential.recovered",
    ]
    assert rows(engine, credential_status)[0].alerted_at is None


def test_at_most_one_webhook_per_credential_per_hour(settings, engine, webhook_receiver):
    register(settings, engine, webhook_receiver, "acme")
    secrets = WebhookSecretStore.from_settings(settings)
    put_status(engine, "acme", 3)
    dispatch(settings, engine, secrets)
    put_status(engine, "acme", 0, "valid")
    soon = dispatch(settings, engine, secrets)
    assert events_of(engine, "credential.recovered") == 1 and soon.delivered == 0
    assert len(webhook_receiver.accepted("/acme")) == 1
    (event,) = rows(engine, webhook_events, webhook_events.c.event_type == "credential.recovered")
    assert event.state == "pending" and event.next_attempt_at > datetime.now(timezone.utc) + timedelta(minutes=59)
    dispatch(settings, engine, secrets, now=datetime.now(timezone.utc) + timedelta(hours=1, seconds=1))
    assert len(webhook_receiver.accepted("/acme")) == 2


def test_removed_credentials_are_never_alerted(engine):
    put_status(engine, "gone", 5, present=False)
    assert events_of(engine, "credential.failed") == 0


def test_no_endpoint_records_an_undeliverable_event(settings, engine):
    put_status(engine, "lonely", 3)
    dispatch(settings, engine, WebhookSecretStore.from_settings(settings))
    (event,) = rows(engine, webhook_events)
    assert event.state == "undeliverable" and "no active webhook endpoint" in event.last_error
