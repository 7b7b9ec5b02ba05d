"""Scope audit events on both databases, written by the real window writer and delivered, signed, to a real
receiver: once per change, never every window, whatever reruns happen."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from credential_health.models import Status
from credential_health.notify.scope_events import SCOPE_EVENTS
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.scopes.record import ScopeRecord
from credential_health_tests.notify.scope_support import (
    OURS,
    SAFE,
    SECOND,
    START,
    check,
    events,
    subscribe,
    write_window,
)

DATA_FIELDS = {
    "event_id",
    "tenant_id",
    "exchange",
    "credential_type",
    "risk_level",
    "previous_risk_level",
    "reason",
    "rules",
    "missing_egress",
    "scope",
    "previous_scope",
    "change_id",
    "observed_at",
    "changed_fields",
    "expires_at",
    "days_before",
    "days_left",
}
SCOPE_FIELDS = {
    "can_trade",
    "can_withdraw",
    "can_transfer",
    "ip_restricted",
    "ip_allowlist",
    "expires_at",
    "egress_allowlisted",
}


def deliver(settings, engine, receiver, path: str = "/acme") -> list[dict]:
    dispatch(settings, engine, WebhookSecretStore.from_settings(settings))
    bodies = [r.json() for r in receiver.accepted(path)]
    for body in (b for b in bodies if b["type"] in SCOPE_EVENTS):  # names and scope fields only, never a secret
        assert set(body["data"]) <= DATA_FIELDS, set(body["data"]) - DATA_FIELDS
        assert set(body["data"].get("scope") or {}) <= SCOPE_FIELDS
    return bodies


def test_the_same_scope_window_after_window_sends_nothing(settings, engine, webhook_receiver):
    subscribe(settings, engine, webhook_receiver, "acme")
    for n in range(4):
        for _ in range(2):  # a rerun of every window
            write_window(engine, n, [check(n, SAFE)])
    assert deliver(settings, engine, webhook_receiver) == []
    assert events(engine, "credential.scope_changed") == events(engine, "credential.scope_risk") == []


def test_gaining_withdrawals_sends_exactly_one_scope_risk_and_one_scope_changed(settings, engine, webhook_receiver):
    subscribe(settings, engine, webhook_receiver, "acme")
    write_window(engine, 0, [check(0, SAFE)])
    risky = replace(SAFE, can_withdraw=True)
    for n in (1, 1, 2, 3):  # window 1 twice (a rerun), then the same record again
        write_window(engine, n, [check(n, risky)])
    bodies = deliver(settings, engine, webhook_receiver)
    assert sorted(b["type"] for b in bodies) == ["credential.scope_changed", "credential.scope_risk"]
    risk = next(b["data"] for b in bodies if b["type"] == "credential.scope_risk")
    assert (risk["risk_level"], risk["previous_risk_level"], risk["reason"]) == ("high", "ok", "withdrawals enabled")
    assert (risk["tenant_id"], risk["exchange"], risk["credential_type"]) == ("acme", "binance", "trading")
    assert risk["scope"]["can_withdraw"] is True and risk["previous_scope"]["can_withdraw"] is False
    changed = next(b["data"] for b in bodies if b["type"] == "credential.scope_changed")
    assert changed["changed_fields"] == ["can_withdraw"] and changed["change_id"] == risk["change_id"]


def test_a_falling_risk_is_a_change_but_no_risk_event(settings, engine, webhook_receiver):
    subscribe(settings, engine, webhook_receiver, "acme", ["credential.scope_risk"])  # per event type
    write_window(engine, 0, [check(0, replace(SAFE, can_withdraw=True))])  # first record: risk from ok to high
    write_window(engine, 1, [check(1, SAFE)])
    assert [b["type"] for b in deliver(settings, engine, webhook_receiver)] == ["credential.scope_risk"]
    assert len(events(engine, "credential.scope_changed")) == 1  # recorded, undeliverable: nobody subscribed


def test_expiry_warnings_at_14_and_3_days_once_each(settings, engine, webhook_receiver):
    subscribe(settings, engine, webhook_receiver, "acme")
    expiring = replace(SAFE, expires_at=START + timedelta(days=20, hours=3))
    for n in (0, 4, 27, 28, 29, 40, 68, 69, 72, 76):  # windows of 6 hours: the check's clock moves 19 days on
        write_window(engine, n, [check(n, expiring)])
        if n == 28:
            write_window(engine, n, [check(n, expiring)], run_id="rerun")
    bodies = deliver(settings, engine, webhook_receiver)
    assert [(b["type"], b["data"]["days_before"]) for b in bodies] == [
        ("credential.expiring", 14),
        ("credential.expiring", 3),
    ]
    assert bodies[0]["data"]["expires_at"] == "2026-11-21T03:00:00Z" and bodies[1]["data"]["days_left"] == 2


def test_a_renewed_expiry_warns_again(settings, engine, webhook_receiver):
    subscribe(settings, engine, webhook_receiver, "acme", ["credential.expiring"])
    write_window(engine, 0, [check(0, replace(SAFE, expires_at=START + timedelta(days=10)))])
    write_window(engine, 1, [check(1, replace(SAFE, expires_at=START + timedelta(days=11)))])
    assert len(deliver(settings, engine, webhook_receiver)) == 2


def test_an_allowlist_lacking_one_published_address_raises_the_warning(settings, engine, webhook_receiver):
    subscribe(settings, engine, webhook_receiver, "acme")
    write_window(engine, 0, [check(0, replace(SAFE, ip_allowlist=(SECOND,), egress_allowlisted=False))])
    [body] = deliver(settings, engine, webhook_receiver)
    assert body["type"] == "credential.scope_risk" and body["data"]["risk_level"] == "warning"
    assert body["data"]["missing_egress"] == [OURS] and OURS in body["data"]["reason"]


def test_a_key_whose_allowlist_lacks_our_address_fails_as_egress_not_allowlisted(settings, engine, webhook_receiver):
    from credential_health import rollup

    subscribe(settings, engine, webhook_receiver, "acme", ["credential.failed"])
    other = ("acme", "binance", "funding")
    write_window(engine, 0, [check(0, replace(SAFE, ip_allowlist=(SECOND,))), check(0, SAFE, key=other)])
    for n in (1, 2, 3):
        write_window(
            engine,
            n,
            [
                check(n, None, Status.INVALID, "auth_rejected"),
                check(n, None, Status.INVALID, "auth_rejected", key=other),
            ],
        )
        with engine.begin() as connection:
            rollup.apply_window(connection, START + n * timedelta(hours=6), datetime.now(timezone.utc), None)
    bodies = deliver(settings, engine, webhook_receiver)
    by_type = {b["data"]["credential_type"]: b["data"]["last_error"] for b in bodies}
    assert by_type["trading"]["code"] == "egress_not_allowlisted"
    assert f"add {OURS} to the key's allowlist" in by_type["trading"]["message"]
    assert by_type["funding"]["code"] == "auth_rejected"  # its allowlist has the address: a rejected key


def test_two_concurrent_runs_of_a_window_send_once(settings, engine, webhook_receiver):
    subscribe(settings, engine, webhook_receiver, "acme")
    write_window(engine, 0, [check(0, SAFE)])
    risky = replace(SAFE, can_withdraw=True, ip_restricted=False, ip_allowlist=None)
    runs = [
        threading.Thread(target=write_window, args=(engine, 1, [check(1, risky)]), kwargs={"run_id": f"r{i}"})
        for i in range(2)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    bodies = deliver(settings, engine, webhook_receiver)
    assert sorted(b["type"] for b in bodies) == ["credential.scope_changed", "credential.scope_risk"]
    risk = next(b["data"] for b in bodies if b["type"] == "credential.scope_risk")
    assert risk["rules"] == ["withdrawal_enabled", "trading_without_ip_restriction"]
    assert json.loads(json.dumps(risk["scope"]))["ip_allowlist"] is None


def test_no_scope_reported_records_nothing(settings, engine, webhook_receiver):
    subscribe(settings, engine, webhook_receiver, "acme")
    write_window(engine, 0, [check(0, None)])
    write_window(engine, 1, [check(1, ScopeRecord())])  # the exchange reports nothing at all: no risk, no guess
    assert deliver(settings, engine, webhook_receiver) == []


def test_the_cli_subscribes_an_endpoint_to_scope_events_only(settings, engine, webhook_receiver, capsys):
    from credential_health.cli import main

    url = webhook_receiver.url_for("/acme")
    assert main(["webhooks", "add", "acme", url, "--event", "credential.scope_risk"]) == 0
    secret = capsys.readouterr().out.split("signing secret")[1].split(": ")[1].strip()
    webhook_receiver.set_secrets("/acme", [secret])
    write_window(engine, 0, [check(0, replace(SAFE, can_withdraw=True, expires_at=START + timedelta(days=2)))])
    assert [b["type"] for b in deliver(settings, engine, webhook_receiver)] == ["credential.scope_risk"]
    assert events(engine, "credential.expiring")[0].state == "undeliverable"


def test_a_manual_check_is_audited_the_same_way(settings, engine, monkeypatch):
    import sqlalchemy as sa

    from credential_health.resources import ResultsDatabase
    from credential_health.storage.schema import credential_health_checks

    monkeypatch.setenv("CREDENTIAL_HEALTH_PUBLISHED_EGRESS_ADDRESSES", f"{OURS},{SECOND}")
    results_db = ResultsDatabase(database_url=settings.database_url.get_secret_value())
    results_db.record_manual(check(0, replace(SAFE, ip_allowlist=(SECOND,))), START, None)
    results_db.record_manual(check(1, None, Status.INVALID, "auth_rejected"), START, None)
    with engine.connect() as connection:
        codes = (
            connection.execute(
                sa.select(credential_health_checks.c.error_code).order_by(credential_health_checks.c.checked_at)
            )
            .scalars()
            .all()
        )
    assert codes == ["ok", "egress_not_allowlisted"]
    assert [e.event_type for e in events(engine, "credential.scope_risk")] == ["credential.scope_risk"]
    results_db.engine.dispose()
