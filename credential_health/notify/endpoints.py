"""Tenant webhook endpoints (tenant_webhooks): registration, enable/disable, and the circuit breaker."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from credential_health.models import EventType
from credential_health.notify.bulk import update_by_key
from credential_health.notify.ssrf import check_url
from credential_health.storage.schema import tenant_webhooks

log = logging.getLogger(__name__)

# Subscribed per endpoint (`webhooks add --event`); the last three come from the scope audit (notify.scope_events).
EVENT_TYPES = tuple(t.value for t in EventType)  # plain strings: click shows an Enum's names


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


def add_endpoint(
    connection, tenant_id: str, url: str, event_types: list[str], *, allow_private: bool, resolver=None
) -> str:
    """Register an endpoint after the SSRF check; returns its id. Raises UnsafeWebhookURL or ValueError."""
    unknown = set(event_types) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(sorted(unknown))} (choose from {', '.join(EVENT_TYPES)})")
    check_url(url, allow_private=allow_private, resolver=resolver)
    now = datetime.now(timezone.utc)
    endpoint_id = "ep_" + secrets.token_hex(8)
    connection.execute(
        tenant_webhooks.insert().values(
            endpoint_id=endpoint_id,
            tenant_id=tenant_id,
            url=url,
            event_types=",".join(event_types),
            active=True,
            consecutive_failures=0,
            created_at=now,
            updated_at=now,
        )
    )
    return endpoint_id


def find_endpoints(connection, target: str) -> list[sa.Row]:
    """Endpoints whose id is `target`, or all endpoints of tenant `target`."""
    query = (
        sa.select(tenant_webhooks)
        .where(sa.or_(tenant_webhooks.c.endpoint_id == target, tenant_webhooks.c.tenant_id == target))
        .order_by(tenant_webhooks.c.created_at)
    )
    return list(connection.execute(query))


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


def record_deliveries(connection, outcomes: list[tuple[str, bool, bool, datetime]], breaker: Breaker) -> list[str]:
    """Update endpoints' failure counters after deliveries (endpoint, delivered, gone, when), in order.

    Returns the endpoints disabled by a 410 or by the breaker. One read and one write per endpoint.
    """
    ids = sorted({endpoint_id for endpoint_id, *_ in outcomes})
    state = {
        row.endpoint_id: row
        for row in connection.execute(sa.select(tenant_webhooks).where(tenant_webhooks.c.endpoint_id.in_(ids)))
    }
    counters = {
        i: [
            state[i].consecutive_failures,
            state[i].failing_since,
            state[i].last_success_at,
            state[i].last_failure_at,
            None,
        ]
        for i in ids
    }
    for endpoint_id, delivered, gone, when in outcomes:
        counter = counters[endpoint_id]
        if delivered:
            counter[:4] = [0, None, when, counter[3]]
            continue
        counter[0] += 1
        counter[1] = counter[1] or when
        counter[3] = when
        if counter[4] is None and state[endpoint_id].active:
            if gone:
                counter[4] = "receiver answered 410 Gone"
            elif breaker.trips(counter[0], counter[1], when):
                counter[4] = (
                    f"circuit breaker: {counter[0]} consecutive failed deliveries since {counter[1]:%Y-%m-%d %H:%M} UTC"
                )
    update_by_key(
        connection,
        tenant_webhooks,
        "endpoint_id",
        [dict(id=i, failures=c[0], since=c[1], success=c[2], failure=c[3]) for i, c in counters.items()],
        {
            "consecutive_failures": "failures",
            "failing_since": "since",
            "last_success_at": "success",
            "last_failure_at": "failure",
        },
        updated_at=datetime.now(timezone.utc),
    )
    disabled = [i for i, c in counters.items() if c[4]]
    for endpoint_id in disabled:
        set_active(connection, endpoint_id, False, counters[endpoint_id][4])
    return disabled
