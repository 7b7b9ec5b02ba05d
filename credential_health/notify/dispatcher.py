"""Delivers due outbox events: concurrent across credentials, in order per credential and endpoint.

Every attempt goes to webhook_delivery_log and one JSON audit line. Outcomes are written in small
batches on a worker thread (one transaction every FLUSH_SECONDS), so the event loop never waits on
the database; a crash loses at most the outcomes not yet flushed, and those events are still
`pending`, so the next run sends them again with the same `webhook-id` (at-least-once).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from credential_health.audit import audit
from credential_health.notify.endpoints import Breaker, record_deliveries
from credential_health.notify.secrets import MissingWebhookSecret, WebhookSecretStore
from credential_health.notify.transport import DeliveryOutcome, WebhookTransport
from credential_health.storage.schema import tenant_webhooks, webhook_delivery_log, webhook_events

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.25


@dataclass
class DispatchReport:
    delivered: int = 0
    failed: int = 0
    deferred: int = 0
    disabled_endpoints: list[str] = field(default_factory=list)


def _final_state(outcome: DeliveryOutcome) -> str:
    """Receivers that reject the request itself (4xx but 408/410/429) will not accept it later either."""
    if outcome.delivered:
        return "delivered"
    status = outcome.attempts[-1].status_code if outcome.attempts else None
    if status is not None and 400 <= status < 500 and status not in (408, 410, 429):
        return "failed"
    return "pending"


class Dispatcher:
    def __init__(self, engine: sa.Engine, transport: WebhookTransport, secrets: WebhookSecretStore, *,
                 breaker: Breaker, concurrency: int, allow_private: bool, resolver=None, run_id: str | None = None,
                 audit=None):
        self.engine = engine
        self.transport = transport
        self.secrets = secrets
        self.breaker = breaker
        self.concurrency = concurrency
        self.allow_private = allow_private
        self.resolver = resolver
        self.run_id = run_id
        self.audit = audit or log  # Dagster's context.log in a run
        self._secrets: dict[str, asyncio.Future] = {}
        self._gone: set[str] = set()
        self._unwritten: list[tuple[sa.Row, DeliveryOutcome, datetime]] = []
        self.report = DispatchReport()

    def _due_groups(self, now: datetime, event_ids: list[str] | None) -> list[list[sa.Row]]:
        query = (
            sa.select(webhook_events, tenant_webhooks.c.url)
            .join(tenant_webhooks, tenant_webhooks.c.endpoint_id == webhook_events.c.endpoint_id)
            .where(webhook_events.c.state == "pending", tenant_webhooks.c.active.is_(True))
            .order_by(webhook_events.c.endpoint_id, webhook_events.c.exchange, webhook_events.c.credential_type,
                      webhook_events.c.tenant_id, webhook_events.c.created_at, webhook_events.c.event_id)
        )
        if event_ids is not None:
            query = query.where(webhook_events.c.event_id.in_(event_ids))
        with self.engine.connect() as connection:
            rows = list(connection.execute(query))
        key = lambda r: (r.endpoint_id, r.tenant_id, r.exchange, r.credential_type)  # noqa: E731
        groups = []
        for _, events in itertools.groupby(rows, key=key):
            # In order per credential: stop at the first event that is not due yet.
            due = list(itertools.takewhile(lambda r: r.next_attempt_at <= now, events))
            if due:
                groups.append(due)
        return groups

    async def run(self, now: datetime | None = None, event_ids: list[str] | None = None) -> DispatchReport:
        """Deliver every due event (or just `event_ids`); the transport bounds requests in flight."""
        groups = await asyncio.to_thread(self._due_groups, now or datetime.now(timezone.utc), event_ids)
        gate = asyncio.Semaphore(self.concurrency * 8)  # only bounds how many groups wait at once

        async def deliver_group(events: list[sa.Row]) -> None:
            async with gate:
                for event in events:
                    if not await self._deliver(event):
                        break  # keep order: a later event never overtakes an undelivered earlier one

        flusher = asyncio.create_task(self._flush_periodically())
        try:
            await asyncio.gather(*(deliver_group(g) for g in groups))
        finally:
            flusher.cancel()
            await self._flush()
        return self.report

    async def _deliver(self, event: sa.Row) -> bool:
        if event.endpoint_id in self._gone:
            return False
        if event.endpoint_id not in self._secrets:
            # One Vault read per endpoint per run, shared by every delivery that needs it meanwhile.
            self._secrets[event.endpoint_id] = asyncio.ensure_future(
                asyncio.to_thread(self.secrets.signing_secrets, event.endpoint_id))
        try:
            secrets = await self._secrets[event.endpoint_id]
        except MissingWebhookSecret as exc:
            self.audit.warning(str(exc))
            self.report.failed += 1
            return False
        outcome = await self.transport.deliver(
            event.url, event.payload.encode(), event.event_id, event.event_type, secrets,
            resolver=self.resolver, allow_private=self.allow_private,
        )
        if outcome.gone:
            self._gone.add(event.endpoint_id)
        self._unwritten.append((event, outcome, datetime.now(timezone.utc)))
        for attempt in outcome.attempts:
            audit(self.audit, "webhook_delivery", event_id=event.event_id, event_type=event.event_type,
                  tenant_id=event.tenant_id, exchange=event.exchange, credential_type=event.credential_type,
                  endpoint_id=event.endpoint_id, attempt=event.attempts + attempt.attempt_no,
                  status_code=attempt.status_code, error=attempt.error, duration_ms=int(attempt.duration_ms),
                  run_id=self.run_id)
        state = _final_state(outcome)
        if outcome.delivered:
            self.report.delivered += 1
        elif state == "failed":
            self.report.failed += 1
        else:
            self.report.deferred += 1
        return outcome.delivered

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self._flush()

    async def _flush(self) -> None:
        batch, self._unwritten = self._unwritten, []
        if batch:
            disabled = await asyncio.to_thread(self._write, batch)
            self.report.disabled_endpoints.extend(disabled)

    def _write(self, batch: list[tuple[sa.Row, DeliveryOutcome, datetime]]) -> list[str]:
        """Log the attempts, settle the events and the endpoints' breaker counters, in one transaction."""
        with self.engine.begin() as connection:
            connection.execute(webhook_delivery_log.insert(), [dict(
                event_id=event.event_id, endpoint_id=event.endpoint_id, tenant_id=event.tenant_id,
                event_type=event.event_type, attempt_no=event.attempts + a.attempt_no, attempted_at=a.started_at,
                duration_ms=int(a.duration_ms), status_code=a.status_code, error=a.error,
                response_excerpt=a.response_excerpt, run_id=self.run_id,
            ) for event, outcome, _ in batch for a in outcome.attempts])
            connection.execute(
                webhook_events.update().where(webhook_events.c.event_id == sa.bindparam("id")).values(
                    state=sa.bindparam("state"), attempts=sa.bindparam("attempts"), last_error=sa.bindparam("error"),
                    delivered_at=sa.bindparam("delivered"), next_attempt_at=sa.bindparam("next")),
                [dict(id=event.event_id, state=_final_state(outcome), attempts=event.attempts + len(outcome.attempts),
                      error=outcome.error, delivered=finished if outcome.delivered else None,
                      next=finished + timedelta(seconds=outcome.retry_after or 0))
                 for event, outcome, finished in batch])
            return record_deliveries(connection, [(event.endpoint_id, outcome.delivered, outcome.gone, finished)
                                                  for event, outcome, finished in batch], self.breaker)
