"""Notify-layer fixtures: settings wired to the real OpenBao, a migrated database and loopback receivers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from credential_health.settings import Settings
from credential_health.storage.database import make_engine
from credential_health import rollup
from credential_health.storage import results


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
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


WINDOW = timedelta(hours=6)
FIRST_WINDOW = datetime(2026, 11, 21, 6, tzinfo=timezone.utc)


def put_status(engine, tenant_id: str, streak: int, last_status: str = "invalid", *, exchange: str = "binance",
               failing_since: datetime | None = None, present: bool = True) -> None:
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
        row = dict(tenant_id=tenant_id, exchange=exchange, credential_type="trading", window_start=start,
                   window_end=start + WINDOW, source="scheduled", checked_at=start + WINDOW + timedelta(minutes=1),
                   status=status, error_code=code, error_message=message, duration_ms=1, attempts=1, late=False)
        with engine.begin() as connection:
            results.insert_rows(connection, [row])
            rollup.apply_window(connection, start, now, {key} if present else set())
        start += WINDOW
