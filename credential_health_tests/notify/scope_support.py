"""Windows of checks carrying scope records, written through the real window writer (and scope audit)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from credential_health.models import CheckResult, CredentialRef, Source, Status
from credential_health.notify.endpoints import EVENT_TYPES, add_endpoint
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.scopes.audit import ScopePolicy
from credential_health.scopes.record import ScopeRecord
from credential_health.storage import results, window_rows
from credential_health.storage.schema import webhook_events

WINDOW = timedelta(hours=6)
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
KEY = ("acme", "binance", "trading")
OURS, SECOND = "203.0.113.7", "198.51.100.9"
SAFE = ScopeRecord(
    can_trade=True,
    can_withdraw=False,
    can_transfer=False,
    ip_restricted=True,
    ip_allowlist=(OURS, SECOND),
    expires_at=None,
    egress_allowlisted=True,
)
POLICY = ScopePolicy(published=(OURS, SECOND))


def window_start(n: int) -> datetime:
    return START + n * WINDOW


def check(
    n: int,
    scope: ScopeRecord | None,
    status: Status = Status.VALID,
    code: str = "ok",
    egress: str = OURS,
    key: tuple = KEY,
    late: timedelta = timedelta(minutes=1),
) -> CheckResult:
    """Window n's check of `key`, made just after the window ended (a valid check carries `scope`)."""
    message = None if status == Status.VALID else "Invalid API-key, IP, or permissions for action."
    return CheckResult(
        CredentialRef(*key),
        status,
        code,
        message,
        window_start(n) + WINDOW + late,
        5,
        1,
        scope=scope if status == Status.VALID else None,
        egress_address=egress,
    )


def write_window(engine, n: int, checks: list[CheckResult], policy: ScopePolicy = POLICY, run_id: str = "run") -> None:
    """Store window n's checks as the validation asset does (one batch through WindowWriter)."""
    start = window_start(n)
    writer = window_rows.WindowWriter(
        engine, start, lambda c: results.check_row(c, start, start + WINDOW, Source.SCHEDULED, run_id), policy=policy
    )
    for item in checks:
        writer.add(item)
    writer.flush()


def subscribe(settings, engine, receiver, tenant_id: str, events=EVENT_TYPES) -> str:
    """An endpoint of `tenant_id` on the loopback receiver for `events`, its signing secret in OpenBao."""
    with engine.begin() as connection:
        endpoint_id = add_endpoint(
            connection, tenant_id, receiver.url_for(f"/{tenant_id}"), list(events), allow_private=True
        )
    secret = WebhookSecretStore.from_settings(settings).create(endpoint_id)
    receiver.set_secrets(f"/{tenant_id}", [secret])
    return endpoint_id


def events(engine, event_type: str) -> list:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(webhook_events).where(webhook_events.c.event_type == event_type)))
