"""The outbox rows the rollup writes (in its own transaction) for each failure episode it opens or closes.

One `credential.failed` per episode, one `credential.recovered` when an announced episode closes; each gets
one row per subscribed active endpoint (or one `undeliverable` row when there is none). The dedupe key is a
hash of (episode id, event type, endpoint) and the event id derives from it, so a rerun, a backfill or two
rollups at once can never create a second event for the same episode and endpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from credential_health.models import EventType, OutboxState
from credential_health.notify.signing import new_message_id
from credential_health.storage.dialect import insert_ignoring
from credential_health.storage.schema import tenant_webhooks, webhook_events

FAILED, RECOVERED = EventType.FAILED, EventType.RECOVERED


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def build_payload(
    event_type: str,
    event_id: str,
    created_at: datetime,
    status: sa.Row | SimpleNamespace | None,
    threshold: int,
    extra: dict | None = None,
) -> str:
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
        connection.execute(insert_ignoring(connection, webhook_events, ["dedupe_key"]), rows)


def _latest_slots(connection, tenants: Collection[str]) -> dict[tuple, datetime]:
    """Per credential of `tenants`, when its newest failed/recovered webhook is (or was) due."""
    c = webhook_events.c
    found: dict[tuple, datetime] = {}
    ordered = sorted(set(tenants))
    for i in range(0, len(ordered), 500):
        query = (
            sa.select(c.tenant_id, c.exchange, c.credential_type, sa.func.max(c.next_attempt_at))
            .where(
                c.event_type.in_((FAILED, RECOVERED)),
                c.tenant_id.in_(ordered[i : i + 500]),
            )
            .group_by(c.tenant_id, c.exchange, c.credential_type)
        )
        found.update(((t, e, k), latest) for t, e, k, latest in connection.execute(query))
    return found


def dedupe_key(episode: str, event_type: str, endpoint_id: str | None) -> str:
    """Bounded (a sha256) whatever the length of the names inside the episode."""
    return hashlib.sha256("\x1f".join((episode, event_type, endpoint_id or "none")).encode("utf-8")).hexdigest()


def event_rows(
    event_type: str,
    episode: str,
    status: sa.Row | SimpleNamespace | None,
    tenant_id: str,
    threshold: int,
    now: datetime,
    next_attempt_at: datetime,
    endpoints: list[str],
    extra: dict | None = None,
) -> list[dict]:
    """Outbox rows for one event: one per endpoint given, or one undeliverable row if none."""
    credential = (status.exchange, status.credential_type) if status is not None else (None, None)
    targets: list[str | None] = [*endpoints] or [None]
    rows = []
    for endpoint_id in targets:
        key = dedupe_key(episode, event_type, endpoint_id)
        event_id = new_message_id(key)
        rows.append(
            dict(
                event_id=event_id,
                dedupe_key=key,
                tenant_id=tenant_id,
                exchange=credential[0],
                credential_type=credential[1],
                endpoint_id=endpoint_id,
                event_type=event_type,
                payload=build_payload(event_type, event_id, now, status, threshold, extra),
                state=OutboxState.PENDING if endpoint_id else OutboxState.UNDELIVERABLE,
                last_error=None if endpoint_id else "no active webhook endpoint for this tenant and event type",
                attempts=0,
                created_at=now,
                next_attempt_at=next_attempt_at,
            )
        )
    return rows


def write_episode_events(
    connection,
    announce: Sequence[tuple[str, Any]],
    states: Mapping[tuple, Any],
    *,
    threshold: int,
    min_interval: timedelta,
    now: datetime,
) -> dict[str, int]:
    """Outbox rows for `announce` ((event type, Episode) in order); `states` holds each credential's
    StreakState after the rollup (the payload's current truth). Returns how many events of each type.

    Each credential's webhooks keep at least `min_interval` apart: an event is due at
    max(now, that credential's latest slot + min_interval).
    """
    counts: dict[str, int] = {FAILED: 0, RECOVERED: 0}
    if not announce:
        return counts
    slots = _latest_slots(connection, {episode.key[0] for _, episode in announce})
    subscribers = _subscribers(connection)
    outbox = []
    for event_type, episode in announce:
        key = episode.key
        status = SimpleNamespace(
            **dict(zip(("tenant_id", "exchange", "credential_type"), key, strict=True)), **states[key]._asdict()
        )
        slot = max(now, slots[key] + min_interval) if key in slots else now
        slots[key] = slot
        extra = {"episode_id": episode.episode_id, "first_failing_window": _iso(episode.first_failing_window)}
        if event_type == RECOVERED:
            extra["alerted_at"] = _iso(episode.opened_at)
        outbox += event_rows(
            event_type,
            episode.episode_id,
            status,
            key[0],
            threshold,
            now,
            slot,
            subscribers.get((key[0], event_type), []),
            extra,
        )
        counts[event_type] += 1
    _insert_ignoring_duplicates(connection, outbox)
    return counts


def _subscribers(connection) -> dict[tuple[str, str], list[str]]:
    """(tenant, event type) -> ids of the active endpoints subscribed to it, oldest first."""
    rows = connection.execute(
        sa.select(tenant_webhooks).where(tenant_webhooks.c.active.is_(True)).order_by(tenant_webhooks.c.created_at)
    )
    subscribers: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        for event_type in row.event_types.split(","):
            subscribers.setdefault((row.tenant_id, event_type), []).append(row.endpoint_id)
    return subscribers


def requeue(
    connection,
    *,
    event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> list[str]:
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
        connection.execute(
            webhook_events.update()
            .where(webhook_events.c.event_id.in_(ids))
            .values(state=OutboxState.PENDING, next_attempt_at=now or datetime.now(timezone.utc))
        )
    return ids
