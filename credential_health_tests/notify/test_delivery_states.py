"""Delivery states against a real receiver, real OpenBao and both databases: superseded events, final failures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.storage.schema import tenant_webhooks, webhook_delivery_log, webhook_events
from credential_health_tests.notify.conftest import put_event
from credential_health_tests.notify.test_outbox import register, rows

HOUR = timedelta(hours=1)


def send(settings, engine, **kwargs):
    return dispatch(settings, engine, WebhookSecretStore.from_settings(settings), **kwargs)


def event(engine, event_id: str) -> sa.Row:
    (row,) = rows(engine, webhook_events, webhook_events.c.event_id == event_id)
    return row


@pytest.mark.parametrize(
    "first, second", [("credential.recovered", "credential.failed"), ("credential.failed", "credential.recovered")]
)
def test_a_held_event_overtaken_before_its_slot_is_superseded(settings, engine, webhook_receiver, first, second):
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    t0 = datetime.now(timezone.utc)
    opening = "credential.failed" if first == "credential.recovered" else "credential.recovered"
    put_event(engine, "acme", [endpoint_id], event_type=opening, episode="e1", created_at=t0)
    assert send(settings, engine).delivered == 1
    # Two more changes within the hour: each waits for its once-per-hour slot (as the rollup schedules them).
    (held,) = put_event(
        engine,
        "acme",
        [endpoint_id],
        event_type=first,
        episode="e1",
        created_at=t0 + timedelta(minutes=10),
        next_attempt_at=t0 + HOUR,
    )
    (newest,) = put_event(
        engine,
        "acme",
        [endpoint_id],
        event_type=second,
        episode="e2",
        created_at=t0 + timedelta(minutes=20),
        next_attempt_at=t0 + 2 * HOUR,
    )
    report = send(settings, engine, now=t0 + timedelta(minutes=30))
    assert (report.delivered, report.superseded) == (0, 0)  # nothing due yet, nothing decided yet

    report = send(settings, engine, now=t0 + HOUR + timedelta(seconds=1))  # the earliest slot of the two
    assert (report.delivered, report.superseded) == (1, 1)
    assert event(engine, held).state == "superseded" and newest in event(engine, held).last_error
    assert event(engine, newest).state == "delivered"
    accepted = webhook_receiver.accepted("/acme")
    assert [r.json()["type"] for r in accepted] == [opening, second]  # the stale state is never sent
    assert accepted[-1].headers["webhook-id"] == newest
    assert held not in {r.headers["webhook-id"] for r in webhook_receiver.received("/acme")}


def test_an_event_already_in_retry_is_not_superseded(settings, engine, webhook_receiver):
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    webhook_receiver.script("/acme", [503] * (settings.webhook_retry_attempts + 1))
    t0 = datetime.now(timezone.utc)
    (first,) = put_event(engine, "acme", [endpoint_id], created_at=t0)
    assert send(settings, engine).deferred == 1
    (second,) = put_event(
        engine,
        "acme",
        [endpoint_id],
        event_type="credential.recovered",
        created_at=t0 + timedelta(seconds=1),
        next_attempt_at=t0 + HOUR,
    )
    report = send(settings, engine, now=t0 + HOUR + timedelta(seconds=1))
    assert (report.delivered, report.superseded) == (2, 0)
    assert [r.headers["webhook-id"] for r in webhook_receiver.accepted("/acme")] == [first, second]


def test_a_redirect_fails_each_run_then_the_event_fails(settings, engine, webhook_receiver):
    settings = settings.model_copy(update=dict(webhook_max_delivery_runs=3))
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    webhook_receiver.script("/acme", [{"status": 302, "headers": {"Location": "http://127.0.0.1:1/x"}}] * 10)
    (event_id,) = put_event(engine, "acme", [endpoint_id])
    now = None
    for run in (1, 2, 3):
        assert send(settings, engine, now=now).delivered == 0
        row = event(engine, event_id)
        assert row.delivery_runs == run and row.attempts == run and row.lease_owner is None
        now = row.next_attempt_at
    assert row.state == "failed" and row.last_error == "gave up after 3 delivery runs: http_302: redirect not followed"
    log = rows(engine, webhook_delivery_log)
    assert [r.error for r in log] == ["http_302: redirect not followed"] * 3 and {r.status_code for r in log} == {302}
    assert rows(engine, tenant_webhooks)[0].consecutive_failures == 3  # counted by the breaker
    assert send(settings, engine, now=now + 10 * HOUR).delivered == 0  # final: never sent again
    assert len(webhook_receiver.received("/acme")) == 3


def test_redelivery_waits_double_each_run(settings, engine, webhook_receiver):
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    webhook_receiver.script("/acme", [500] * 100)
    settings = settings.model_copy(update=dict(webhook_retry_attempts=0))
    (event_id,) = put_event(engine, "acme", [endpoint_id])
    now, waits = datetime.now(timezone.utc), []
    for _ in range(3):
        send(settings, engine, now=now)
        row = event(engine, event_id)
        waits.append(round((row.next_attempt_at - now).total_seconds()))
        now = row.next_attempt_at
    assert waits == [60, 120, 240]


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/acme", "https://exa mple.com/x"])
def test_a_url_refused_at_send_time_fails_each_run_then_the_event_fails(settings, engine, webhook_receiver, url):
    endpoint_id, _ = register(settings, engine, webhook_receiver, "acme")
    with engine.begin() as connection:  # changed after registration (or the rules tightened since)
        connection.execute(tenant_webhooks.update().values(url=url.format(port=webhook_receiver.port)))
    settings = settings.model_copy(update=dict(webhook_max_delivery_runs=2, webhook_allow_private_urls=False))
    (event_id,) = put_event(engine, "acme", [endpoint_id])
    first = send(settings, engine)
    assert first.deferred == 1
    row = event(engine, event_id)
    assert row.state == "pending" and row.last_error.startswith("unsafe_url: ")
    second = send(settings, engine, now=row.next_attempt_at)
    assert second.failed == 1
    row = event(engine, event_id)
    assert row.state == "failed" and row.last_error.startswith("gave up after 2 delivery runs: unsafe_url: ")
    log = rows(engine, webhook_delivery_log)
    assert len(log) == 2 and all(r.error.startswith("unsafe_url: ") and r.status_code is None for r in log)
    assert rows(engine, tenant_webhooks)[0].consecutive_failures == 2
    assert webhook_receiver.received() == []
