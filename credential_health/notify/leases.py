"""Delivery leases on the outbox (webhook_events): claim due events, renew the claim, settle only what is held.

A delivery worker claims events by writing its own `lease_owner` and a `lease_expires_at` in one atomic
statement: on PostgreSQL `UPDATE ... WHERE event_id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`, so
concurrent workers never wait on or take each other's rows; on SQLite the same UPDATE ... RETURNING runs
under the database's single write lock. A worker writes an outcome only for events it still holds
(`held`, compare-and-set on lease_owner). A killed worker stops renewing; once its lease expires, the next
worker claims the event and sends it again with the same `webhook-id`.

Order per credential and endpoint: only the oldest pending event of a (endpoint, credential) group is
claimable, so a later event never overtakes an earlier one, whichever worker holds it.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from credential_health.models import EventType, OutboxState
from credential_health.notify.bulk import update_by_key
from credential_health.storage import dialect
from credential_health.storage.schema import tenant_webhooks, webhook_events

CREDENTIAL_EVENTS = (EventType.FAILED, EventType.RECOVERED)
_GROUP = ("endpoint_id", "tenant_id", "exchange", "credential_type")


def new_owner() -> str:
    """A lease owner id naming this process (host, pid) and this delivery run."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(6)}"


def take_write_lock(connection: sa.Connection) -> None:
    """SQLite: begin the write transaction now (see dialect.take_write_lock); PostgreSQL locks rows instead."""
    dialect.take_write_lock(connection, webhook_events.c.state)


def _not_leased(clock: datetime):
    c = webhook_events.c
    return sa.or_(c.lease_expires_at.is_(None), c.lease_expires_at <= clock)


def supersede_overtaken(connection: sa.Connection, *, now: datetime, clock: datetime) -> list[str]:
    """Mark held events overtaken by a newer event of the same credential and endpoint `superseded`.

    Only when the group's earliest slot has come (one of its events is due), and only events never
    attempted (a held event, not one already in retry). The newest event takes the earliest slot of
    those it replaced. Returns the superseded event ids.
    """
    c = webhook_events.c
    take_write_lock(connection)
    pending = sa.and_(c.state == OutboxState.PENDING, c.event_type.in_(CREDENTIAL_EVENTS), c.endpoint_id.is_not(None))
    groups = (
        sa.select(*(c[k] for k in _GROUP))
        .where(pending)
        .group_by(*(c[k] for k in _GROUP))
        .having(sa.func.count() > 1, sa.func.min(c.next_attempt_at) <= now)
    )
    rows = connection.execute(
        sa.select(webhook_events)
        .where(pending, sa.tuple_(*(c[k] for k in _GROUP)).in_(groups))
        .order_by(*(c[k] for k in _GROUP), c.created_at, c.event_id)
    ).all()
    superseded: list[str] = []
    by_group: dict[tuple, list[sa.Row]] = {}
    for row in rows:
        by_group.setdefault(tuple(getattr(row, k) for k in _GROUP), []).append(row)
    for events in by_group.values():
        overtaken, moves = _overtaken(events, clock)
        if not overtaken:
            continue
        done = connection.execute(
            webhook_events.update()
            .where(
                c.event_id.in_(list(overtaken)),
                c.state == OutboxState.PENDING,
                c.attempts == 0,
                _not_leased(clock),
            )
            .values(state=OutboxState.SUPERSEDED, last_error=sa.case(overtaken, value=c.event_id))
        ).rowcount
        if done == len(overtaken):  # else another worker got there first; the next pass settles it
            for event_id, slot in moves.items():
                connection.execute(
                    webhook_events.update()
                    .where(c.event_id == event_id, c.state == OutboxState.PENDING)
                    .values(next_attempt_at=slot)
                )
            superseded += list(overtaken)
    return superseded


def _overtaken(events: list[sa.Row], clock: datetime) -> tuple[dict[str, str], dict[str, datetime]]:
    """In one group, oldest first: {overtaken id: reason} and {event id: the earlier slot it inherits}.

    An event is overtaken when it was never attempted and the next event was created before its slot.
    """
    overtaken: dict[str, str] = {}
    moves: dict[str, datetime] = {}
    carry: datetime | None = None
    for event, successor in zip(events, [*events[1:], None], strict=True):
        slot = min(event.next_attempt_at, carry) if carry else event.next_attempt_at
        held = (
            event.attempts == 0
            and event.delivery_runs == 0
            and (event.lease_expires_at is None or event.lease_expires_at <= clock)
        )
        if successor is not None and held and successor.created_at < event.next_attempt_at:
            overtaken[event.event_id] = f"superseded by {successor.event_id} before its slot"
            carry = slot
            continue
        if slot < event.next_attempt_at:
            moves[event.event_id] = slot
        carry = None
    return overtaken, moves


def claim(
    connection: sa.Connection,
    owner: str,
    *,
    now: datetime,
    clock: datetime,
    lease_until: datetime,
    limit: int,
    event_ids: Sequence[str] | None = None,
) -> tuple[list[sa.Row], int]:
    """Lease up to `limit` due events (each the oldest pending one of its group) to `owner`.

    Returns the claimed rows and how many candidates there were (fewer claimed: other workers took them).
    """
    c = webhook_events.c
    take_write_lock(connection)
    # Each group's oldest pending event in one sorted pass, then a lock by primary key: a correlated
    # subquery is quadratic when the planner's statistics are stale (right after a window's events).
    ranked = (
        sa.select(
            c.event_id,
            c.endpoint_id,
            c.next_attempt_at,
            c.created_at,
            c.lease_expires_at,
            sa.func.row_number()
            .over(partition_by=[c[k] for k in _GROUP], order_by=[c.created_at, c.event_id])
            .label("position"),
        )
        .where(c.state == OutboxState.PENDING, c.endpoint_id.is_not(None))
        .subquery("ranked")
    )
    r = ranked.c
    candidates = (
        sa.select(r.event_id)
        .join(tenant_webhooks, tenant_webhooks.c.endpoint_id == r.endpoint_id)
        .where(
            r.position == 1,
            r.next_attempt_at <= now,
            tenant_webhooks.c.active.is_(True),
            sa.or_(r.lease_expires_at.is_(None), r.lease_expires_at <= clock),
        )
        .order_by(r.next_attempt_at, r.created_at, r.event_id)
        .limit(limit)
    )
    if event_ids is not None:
        candidates = candidates.where(r.event_id.in_(list(event_ids)))
    ids = list(connection.execute(candidates).scalars())
    if not ids:
        return [], 0
    # Checked again under the row lock: another worker may have claimed or settled one meanwhile.
    free = (
        sa.select(c.event_id)
        .where(c.event_id.in_(ids), c.state == OutboxState.PENDING, _not_leased(clock))
        .with_for_update(skip_locked=True, of=webhook_events)
    )
    claimed = connection.execute(
        webhook_events.update()
        .where(c.event_id.in_(free))
        .values(lease_owner=owner, lease_expires_at=lease_until)
        .returning(*webhook_events.c)
    ).all()
    return sorted(claimed, key=lambda row: (row.next_attempt_at, row.created_at, row.event_id)), len(ids)


def endpoint_urls(connection: sa.Connection, endpoint_ids: set[str]) -> dict[str, str]:
    """endpoint id -> URL, read when the events are claimed (an edited URL applies to the next claim)."""
    rows = connection.execute(
        sa.select(tenant_webhooks.c.endpoint_id, tenant_webhooks.c.url).where(
            tenant_webhooks.c.endpoint_id.in_(sorted(endpoint_ids))
        )
    )
    return dict(rows.tuples().all())


def renew(connection: sa.Connection, owner: str, lease_until: datetime) -> int:
    """Extend every lease `owner` still holds on a pending event; returns how many."""
    c = webhook_events.c
    return connection.execute(
        webhook_events.update()
        .where(c.lease_owner == owner, c.state == OutboxState.PENDING)
        .values(lease_expires_at=lease_until)
    ).rowcount


def held(connection: sa.Connection, owner: str, event_ids: Sequence[str]) -> set[str]:
    """Of `event_ids`, those `owner` still holds, locked until the transaction ends (the compare-and-set)."""
    c = webhook_events.c
    take_write_lock(connection)
    query = sa.select(c.event_id).where(c.event_id.in_(list(event_ids)), c.lease_owner == owner)
    return set(connection.execute(query.with_for_update(of=webhook_events)).scalars())


def release(connection: sa.Connection, owner: str) -> int:
    """Give back every lease `owner` still holds (events it claimed but did not settle)."""
    c = webhook_events.c
    return connection.execute(
        webhook_events.update().where(c.lease_owner == owner).values(lease_owner=None, lease_expires_at=None)
    ).rowcount


def due_count(connection: sa.Connection, now: datetime) -> int:
    """Events a delivery run would claim now: pending, due, on an active endpoint, not leased (or lease expired)."""
    c = webhook_events.c
    query = (
        sa.select(sa.func.count())
        .select_from(webhook_events)
        .join(tenant_webhooks, tenant_webhooks.c.endpoint_id == c.endpoint_id)
        .where(
            c.state == OutboxState.PENDING,
            c.next_attempt_at <= now,
            _not_leased(now),
            tenant_webhooks.c.active.is_(True),
        )
    )
    return connection.execute(query).scalar_one()


def settle(connection: sa.Connection, owner: str, outcomes: list[dict]) -> None:
    """Write each event's new delivery state and give its lease back, only where `owner` still holds it.

    `outcomes`: dicts of id, state, attempts, error, delivered, next, runs.
    """
    update_by_key(
        connection,
        webhook_events,
        "event_id",
        outcomes,
        {
            "state": "state",
            "attempts": "attempts",
            "last_error": "error",
            "delivered_at": "delivered",
            "next_attempt_at": "next",
            "delivery_runs": "runs",
        },
        webhook_events.c.lease_owner == owner,
        lease_owner=None,
        lease_expires_at=None,
    )
