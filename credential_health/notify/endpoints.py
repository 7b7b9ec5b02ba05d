"""Tenant webhook endpoints (tenant_webhooks): registration, enable/disable, and the circuit breaker."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from credential_health.notify.ssrf import check_url
from credential_health.storage.schema import tenant_webhooks

log = logging.getLogger(__name__)

EVENT_TYPES = ("credential.failed", "credential.recovered")


@dataclass(frozen=True)
class Breaker:
    """Disable an endpoint after `failures` consecutive failed deliveries spanning at least `min_failing`."""

    failures: int = 10
    min_failing: timedelta = timedelta(hours=24)

    def trips(self, consecutive_failures: int, failing_since: datetime | None, now: datetime) -> bool:
        return (
            consecutive_failures >= self.failures
            and failing_since is not None
            and now - failing_since >= self.min_failing
        )


def add_endpoint(connection, tenant_id: str, url: str, event_types: list[str], *, allow_private: bool,
                 resolver=None) -> str:
    """Register an endpoint after the SSRF check; returns its id. Raises UnsafeWebhookURL or ValueError."""
    unknown = set(event_types) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(sorted(unknown))} (choose from {', '.join(EVENT_TYPES)})")
    check_url(url, allow_private=allow_private, resolver=resolver)
    now = datetime.now(timezone.utc)
    endpoint_id = "ep_" + secrets.token_hex(8)
    connection.execute(tenant_webhooks.insert().values(
        endpoint_id=endpoint_id, tenant_id=tenant_id, url=url, event_types=",".join(event_types), active=True,
        consecutive_failures=0, created_at=now, updated_at=now,
    ))
    return endpoint_id


def find_endpoints(connection, target: str) -> list[sa.Row]:
    """Endpoints whose id is `target`, or all endpoints of tenant `target`."""
    query = sa.select(tenant_webhooks).where(
        sa.or_(tenant_webhooks.c.endpoint_id == target, tenant_webhooks.c.tenant_id == target)
    ).order_by(tenant_webhooks.c.created_at)
    return list(connection.execute(query))


def active_endpoints(connection, tenant_id: str, event_type: str) -> list[sa.Row]:
    rows = connection.execute(sa.select(tenant_webhooks).where(
        tenant_webhooks.c.tenant_id == tenant_id, tenant_webhooks.c.active.is_(True)
    ).order_by(tenant_webhooks.c.created_at))
    return [row for row in rows if event_type in row.event_types.split(",") or event_type == "webhook.test"]


def set_active(connection, endpoint_id: str, active: bool, reason: str | None = None) -> None:
    """Enable (clearing the failure counters) or disable an endpoint, with the reason shown to operators."""
    now = datetime.now(timezone.utc)
    values = dict(active=active, updated_at=now)
    if active:
        values.update(disabled_reason=None, disabled_at=None, consecutive_failures=0, failing_since=None)
    else:
        values.update(disabled_reason=reason, disabled_at=now)
        log.warning("webhook endpoint %s disabled: %s", endpoint_id, reason)
    connection.execute(tenant_webhooks.update().where(tenant_webhooks.c.endpoint_id == endpoint_id).values(**values))


def record_delivery(connection, endpoint_id: str, delivered: bool, gone: bool, breaker: Breaker,
                    now: datetime) -> str | None:
    """Update the endpoint's failure counters after one delivery; returns why it was disabled, if it was."""
    if delivered:
        connection.execute(tenant_webhooks.update().where(tenant_webhooks.c.endpoint_id == endpoint_id).values(
            consecutive_failures=0, failing_since=None, last_success_at=now, updated_at=now))
        return None
    row = connection.execute(sa.select(tenant_webhooks).where(tenant_webhooks.c.endpoint_id == endpoint_id)).one()
    failures = row.consecutive_failures + 1
    failing_since = row.failing_since or now
    connection.execute(tenant_webhooks.update().where(tenant_webhooks.c.endpoint_id == endpoint_id).values(
        consecutive_failures=failures, failing_since=failing_since, last_failure_at=now, updated_at=now))
    reason = None
    if gone:
        reason = "receiver answered 410 Gone"
    elif breaker.trips(failures, failing_since, now):
        reason = f"circuit breaker: {failures} consecutive failed deliveries since {failing_since:%Y-%m-%d %H:%M} UTC"
    if reason:
        set_active(connection, endpoint_id, False, reason)
    return reason
