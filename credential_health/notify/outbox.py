"""The outbox: turns credential_status into webhook_events rows, committed before any HTTP attempt.

One `credential.failed` per failure episode (when the streak reaches the threshold; `alerted_at`
marks the episode as alerted), one `credential.recovered` when an alerted credential is valid again.
Each event gets one row per subscribed endpoint, with a stable id derived from the episode, so a
re-run, a duplicate sensor tick or a crash can never create a second event for the same episode.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from credential_health.notify.signing import new_message_id
from credential_health.storage.schema import credential_status, tenant_webhooks, webhook_events


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def build_payload(event_type: str, event_id: str, created_at: datetime, status: sa.Row | None,
                  threshold: int, extra: dict | None = None) -> str:
    """The JSON body (serialised once; these exact bytes are signed and sent). Never a key or secret."""
    data: dict = {"event_id": event_id}
    if status is not None:
        data.update(
            tenant_id=status.tenant_id,
            exchange=status.exchange,
            credential_type=status.credential_type,
            status=status.last_status,
            consecutive_failures=status.consecutive_failures,
            threshold=threshold,
            failing_since=_iso(status.failing_since),
            last_checked_at=_iso(status.last_checked_at),
            last_success_at=_iso(status.last_success_at),
            last_error={"code": status.last_error_code, "message": status.last_error_message},
        )
    data.update(extra or {})
    return json.dumps({"type": event_type, "timestamp": _iso(created_at), "data": data}, separators=(",", ":"))


def _insert_ignoring_duplicates(connection, rows: list[dict]) -> None:
    """Insert outbox rows; a row whose dedupe_key exists already (a concurrent run made it) is skipped."""
    if rows:
        dialect = {"postgresql": postgresql, "sqlite": sqlite}[connection.dialect.name]
        connection.execute(dialect.insert(webhook_events).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows)


def _latest_slots(connection) -> dict[tuple, datetime]:
    """Per credential, when its newest failed/recovered webhook is (or was) due."""
    c = webhook_events.c
    query = sa.select(c.tenant_id, c.exchange, c.credential_type, sa.func.max(c.next_attempt_at)).where(
        c.event_type.in_(("credential.failed", "credential.recovered"))
    ).group_by(c.tenant_id, c.exchange, c.credential_type)
    return {(tenant_id, exchange, credential_type): latest
            for tenant_id, exchange, credential_type, latest in connection.execute(query)}


def event_rows(event_type: str, episode: str, status: sa.Row | None, tenant_id: str, threshold: int,
               now: datetime, next_attempt_at: datetime, endpoints: list[str], extra: dict | None = None) -> list[dict]:
    """Outbox rows for one event: one per endpoint given, or one undeliverable row if none."""
    credential = (status.exchange, status.credential_type) if status is not None else (None, None)
    endpoints = endpoints or [None]
    rows = []
    for endpoint_id in endpoints:
        dedupe_key = "|".join((event_type, tenant_id, *(c or "" for c in credential), episode, endpoint_id or "none"))
        event_id = new_message_id(dedupe_key)
        rows.append(dict(
            event_id=event_id, dedupe_key=dedupe_key, tenant_id=tenant_id, exchange=credential[0],
            credential_type=credential[1], endpoint_id=endpoint_id, event_type=event_type,
            payload=build_payload(event_type, event_id, now, status, threshold, extra),
            state="pending" if endpoint_id else "undeliverable",
            last_error=None if endpoint_id else "no active webhook endpoint for this tenant and event type",
            attempts=0, created_at=now, next_attempt_at=next_attempt_at,
        ))
    return rows


def plan_events(connection, *, threshold: int, min_interval: timedelta, now: datetime | None = None) -> dict[str, int]:
    """Write the events the current credential_status calls for; returns how many of each type."""
    now = now or datetime.now(timezone.utc)
    present = credential_status.c.present_in_inventory.is_(True)
    failed = connection.execute(sa.select(credential_status).where(
        present, credential_status.c.alerted_at.is_(None), credential_status.c.consecutive_failures >= threshold))
    recovered = connection.execute(sa.select(credential_status).where(
        present, credential_status.c.alerted_at.is_not(None), credential_status.c.last_status == "valid",
        credential_status.c.consecutive_failures == 0))
    counts = {"credential.failed": 0, "credential.recovered": 0}
    slots = _latest_slots(connection)
    subscribers = _subscribers(connection)
    for event_type, rows, alerted in (("credential.failed", list(failed), now),
                                      ("credential.recovered", list(recovered), None)):
        outbox, keys = [], []
        for status in rows:
            key = (status.tenant_id, status.exchange, status.credential_type)
            episode = _iso(status.failing_since if alerted else status.alerted_at)
            extra = {"alerted_at": _iso(status.alerted_at)} if alerted is None else None
            slot = max(now, slots[key] + min_interval) if key in slots else now
            slots[key] = slot
            outbox += event_rows(event_type, episode, status, status.tenant_id, threshold, now, slot,
                                 subscribers.get((status.tenant_id, event_type), []), extra)
            keys.append(dict(t=key[0], e=key[1], c=key[2]))
        counts[event_type] = len(rows)  # one event per credential, whatever its number of endpoints
        _insert_ignoring_duplicates(connection, outbox)
        if keys:
            connection.execute(credential_status.update().where(
                credential_status.c.tenant_id == sa.bindparam("t"),
                credential_status.c.exchange == sa.bindparam("e"),
                credential_status.c.credential_type == sa.bindparam("c"),
            ).values(alerted_at=alerted), keys)
    return counts


def _subscribers(connection) -> dict[tuple[str, str], list[str]]:
    """(tenant, event type) -> ids of the active endpoints subscribed to it, oldest first."""
    rows = connection.execute(sa.select(tenant_webhooks).where(tenant_webhooks.c.active.is_(True))
                              .order_by(tenant_webhooks.c.created_at))
    subscribers: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        for event_type in row.event_types.split(","):
            subscribers.setdefault((row.tenant_id, event_type), []).append(row.endpoint_id)
    return subscribers


def requeue(connection, *, event_id: str | None = None, since: datetime | None = None,
            until: datetime | None = None, now: datetime | None = None) -> list[str]:
    """Make events pending again (replay): same event id and body, so receivers can de-duplicate."""
    query = sa.select(webhook_events.c.event_id).where(webhook_events.c.endpoint_id.is_not(None))
    if event_id:
        query = query.where(webhook_events.c.event_id == event_id)
    if since:
        query = query.where(webhook_events.c.created_at >= since)
    if until:
        query = query.where(webhook_events.c.created_at < until)
    ids = [row.event_id for row in connection.execute(query)]
    if ids:
        connection.execute(webhook_events.update().where(webhook_events.c.event_id.in_(ids)).values(
            state="pending", next_attempt_at=now or datetime.now(timezone.utc)))
    return ids
