"""Notify-layer fixtures: settings wired to the real OpenBao, a migrated database and loopback receivers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from credential_health import rollup
from credential_health.notify.endpoints import add_endpoint
from credential_health.notify.outbox import event_rows
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.settings import Settings
from credential_health.storage import results
from credential_health.storage.database import make_engine
from credential_health.storage.schema import webhook_events


@pytest.fixture
def notify_env(monkeypatch, openbao, database_url):
    """Environment for the notify code and CLI: real Vault, the test database, loopback receivers allowed."""
    env = {
        "VAULT_ADDR": openbao.addr,
        "VAULT_TOKEN": openbao.root_token,
        "CREDENTIAL_HEALTH_DATABASE_URL": database_url,
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "WEBHOOK_RETRY_BACKOFF_BASE": "0.01",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "VAULT_WEBHOOK_SECRETS_PATH": f"credential-health/webhooks-{database_url.split(':')[0]}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def settings(notify_env) -> Settings:
    return Settings.from_env()


@pytest.fixture
def engine(settings):
    engine = make_engine(settings.database_url.get_secret_value())
    yield engine
    engine.dispose()


WINDOW = timedelta(hours=6)
FIRST_WINDOW = datetime(2026, 11, 21, 6, tzinfo=timezone.utc)


def put_status(
    engine,
    tenant_id: str,
    streak: int,
    last_status: str = "invalid",
    *,
    exchange: str = "binance",
    failing_since: datetime | None = None,
    present: bool = True,
) -> None:
    """Drive the real rollup until the credential's status is as asked, as scheduled windows would: invalid
    windows until the streak is `streak` (from `failing_since` on), or one `last_status` window. The rollup
    writes the episodes and outbox rows the notify job then delivers."""
    now = datetime.now(timezone.utc)
    key = (tenant_id, exchange, "trading")
    with engine.begin() as connection:
        [current] = rollup.status_rows(connection, [key]) or [None]
    start = current["last_window_start"] + WINDOW if current else (failing_since or FIRST_WINDOW)
    have = current["consecutive_failures"] if current else 0
    plan = [last_status] if last_status != "invalid" else ["invalid"] * (streak - have)
    code = "auth_rejected" if last_status == "invalid" else "ok"
    message = "Invalid API-key, IP, or permissions for action." if last_status == "invalid" else None
    for status in plan:
        row = dict(
            tenant_id=tenant_id,
            exchange=exchange,
            credential_type="trading",
            window_start=start,
            window_end=start + WINDOW,
            source="scheduled",
            checked_at=start + WINDOW + timedelta(minutes=1),
            status=status,
            error_code=code,
            error_message=message,
            duration_ms=1,
            attempts=1,
            late=False,
        )
        with engine.begin() as connection:
            results.insert_rows(connection, [row])
            rollup.apply_window(connection, start, now, {key} if present else set())
        start += WINDOW


def put_event(
    engine,
    tenant_id: str,
    endpoints: list[str],
    *,
    event_type: str = "credential.failed",
    episode: str = "2026-11-21T06:00:00Z",
    exchange: str = "binance",
    credential_type: str = "trading",
    created_at: datetime | None = None,
    next_attempt_at: datetime | None = None,
) -> list[str]:
    """Outbox rows for one event, as the rollup writes them (through `event_rows`); returns their event ids."""
    now = created_at or datetime.now(timezone.utc)
    status = SimpleNamespace(
        tenant_id=tenant_id,
        exchange=exchange,
        credential_type=credential_type,
        last_status="invalid" if event_type == "credential.failed" else "valid",
        consecutive_failures=3 if event_type == "credential.failed" else 0,
        failing_since=datetime(2026, 11, 21, 6, tzinfo=timezone.utc),
        last_checked_at=now,
        last_success_at=None,
        last_error_code="auth_rejected",
        last_error_message="Invalid API-key, IP, or permissions for action.",
    )
    episode_id = f"{tenant_id}/{exchange}/{credential_type}@{episode}"  # episode ids name their credential
    rows = event_rows(event_type, episode_id, status, tenant_id, 3, now, next_attempt_at or now, endpoints)
    with engine.begin() as connection:
        connection.execute(webhook_events.insert(), rows)
    return [row["event_id"] for row in rows]


def register(settings, engine, receiver, tenant_id: str) -> tuple[str, str]:
    """A webhook endpoint for `tenant_id` on the loopback receiver, with its signing secret in OpenBao."""
    with engine.begin() as connection:
        endpoint_id = add_endpoint(
            connection,
            tenant_id,
            receiver.url_for(f"/{tenant_id}"),
            ["credential.failed", "credential.recovered"],
            allow_private=True,
        )
    secret = WebhookSecretStore.from_settings(settings).create(endpoint_id)
    receiver.set_secrets(f"/{tenant_id}", [secret])
    return endpoint_id, secret


def rows(engine, table, *where):
    with engine.connect() as connection:
        return list(connection.execute(sa.select(table).where(*where)))
