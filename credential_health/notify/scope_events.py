"""Outbox rows of the scope audit's events: `credential.scope_risk`, `credential.expiring`, `credential.scope_changed`.

Written by the scope audit in the transaction that stores the change, one row per subscribed active endpoint
(one `undeliverable` row when there is none), signed and delivered like `credential.failed`. Each event's
dedupe key names what it announces (a change, or an expiry milestone), so a rerun or a concurrent run of a
window adds nothing twice. Payloads carry scope fields and names, never a key or secret.
"""

from __future__ import annotations

import json
from datetime import datetime

from credential_health.models import EventType, OutboxState
from credential_health.notify.outbox import _insert_ignoring_duplicates, _iso, _subscribers, dedupe_key
from credential_health.notify.signing import new_message_id
from credential_health.scopes.record import ScopeRecord

SCOPE_RISK, EXPIRING, SCOPE_CHANGED = EventType.SCOPE_RISK, EventType.EXPIRING, EventType.SCOPE_CHANGED
SCOPE_EVENTS = (SCOPE_RISK, EXPIRING, SCOPE_CHANGED)
MILESTONES = (14, 3)  # days before expires_at: one credential.expiring at each


def scope_fields(scope: ScopeRecord | None) -> dict | None:
    """The record as JSON fields (None stays null: the exchange does not report it)."""
    if scope is None:
        return None
    return {
        "can_trade": scope.can_trade,
        "can_withdraw": scope.can_withdraw,
        "can_transfer": scope.can_transfer,
        "ip_restricted": scope.ip_restricted,
        "ip_allowlist": list(scope.ip_allowlist) if scope.ip_allowlist is not None else None,
        "expires_at": _iso(scope.expires_at),
        "egress_allowlisted": scope.egress_allowlisted,
    }


class ScopeOutbox:
    """Collects a batch's scope events, then writes them with one insert."""

    def __init__(self, connection, now: datetime):
        self.connection = connection
        self.now = now
        self.rows: list[dict] = []
        self.counts: dict[str, int] = dict.fromkeys(SCOPE_EVENTS, 0)
        self._subscribers: dict | None = None

    def add(self, event_type: str, identity: str, key: tuple[str, str, str], data: dict) -> None:
        """One event about credential `key`; `identity` names what it announces (its dedupe key's root)."""
        if self._subscribers is None:
            self._subscribers = _subscribers(self.connection)
        tenant_id, exchange, credential_type = key
        for endpoint_id in self._subscribers.get((tenant_id, event_type), []) or [None]:
            dedupe = dedupe_key(identity, event_type, endpoint_id)
            event_id = new_message_id(dedupe)
            body = {
                "event_id": event_id,
                "tenant_id": tenant_id,
                "exchange": exchange,
                "credential_type": credential_type,
                **data,
            }
            payload = json.dumps({"type": event_type, "timestamp": _iso(self.now), "data": body}, separators=(",", ":"))
            self.rows.append(
                dict(
                    event_id=event_id,
                    dedupe_key=dedupe,
                    tenant_id=tenant_id,
                    exchange=exchange,
                    credential_type=credential_type,
                    endpoint_id=endpoint_id,
                    event_type=event_type,
                    payload=payload,
                    state=OutboxState.PENDING if endpoint_id else OutboxState.UNDELIVERABLE,
                    last_error=None if endpoint_id else "no active webhook endpoint for this tenant and event type",
                    attempts=0,
                    created_at=self.now,
                    next_attempt_at=self.now,
                )
            )
        self.counts[event_type] += 1

    def write(self) -> None:
        _insert_ignoring_duplicates(self.connection, self.rows)
        self.rows = []
