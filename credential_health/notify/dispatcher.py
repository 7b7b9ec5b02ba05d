"""The delivery worker: claims due outbox events with a lease, sends them, settles what it still holds.

Claims come in small batches (each event the oldest pending one of its credential and endpoint), so several
workers share the outbox and order per credential holds. Outcomes are written in batches on a worker thread
(one transaction every FLUSH_SECONDS) and only for events whose lease this worker still holds; a lost lease
means another worker owns the event now, so the outcome is dropped and logged. Every attempt goes to
webhook_delivery_log and one JSON audit line. A crash loses at most unwritten outcomes: the lease expires and
the next worker sends those events again with the same `webhook-id` (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from credential_health.audit import audit
from credential_health.models import OutboxState
from credential_health.notify import leases
from credential_health.notify.endpoints import Breaker, record_deliveries
from credential_health.notify.secrets import MissingWebhookSecret, WebhookSecretStore
from credential_health.notify.transport import DeliveryOutcome, WebhookTransport
from credential_health.storage.schema import webhook_delivery_log

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5
REDELIVERY_CAP = timedelta(hours=6)


@dataclass
class DispatchReport:
    delivered: int = 0
    failed: int = 0
    deferred: int = 0
    superseded: int = 0
    lost_leases: int = 0
    disabled_endpoints: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Redelivery:
    """Between delivery runs: wait `delay` doubling per run (at most 6 h); after `max_runs` runs, `failed`."""

    max_runs: int = 12
    delay: timedelta = timedelta(seconds=60)

    def wait(self, runs: int) -> timedelta:
        return min(self.delay * 2 ** (runs - 1), REDELIVERY_CAP)


@dataclass
class Settled:
    """One claimed event's result: the HTTP outcome, or why nothing was sent (`error`)."""

    event: sa.Row
    outcome: DeliveryOutcome | None
    error: str | None
    finished: datetime


def rejected(outcome: DeliveryOutcome | None) -> bool:
    """Receivers that reject the request itself (4xx but 408/410/429) will not accept it later either."""
    status = outcome.attempts[-1].status_code if outcome and outcome.attempts else None
    return status is not None and 400 <= status < 500 and status not in (408, 410, 429)


def settle(item: Settled, now: datetime, redelivery: Redelivery) -> dict:
    """The event's new delivery state. Anything not delivered nor rejected is retried up to the run limit."""
    event, outcome = item.event, item.outcome
    runs = event.delivery_runs + 1
    attempts = event.attempts + (len(outcome.attempts) if outcome else 0)
    values = dict(id=event.event_id, attempts=attempts, runs=runs, delivered=None, next=event.next_attempt_at)
    if outcome and outcome.delivered:
        return {**values, "state": OutboxState.DELIVERED, "error": None, "delivered": item.finished}
    error = (outcome.error if outcome else item.error) or "not delivered"
    if rejected(outcome):
        return {**values, "state": OutboxState.FAILED, "error": error[:255]}
    if runs >= redelivery.max_runs:
        return {**values, "state": OutboxState.FAILED, "error": f"gave up after {runs} delivery runs: {error}"[:255]}
    wait = max(redelivery.wait(runs), timedelta(seconds=(outcome.retry_after or 0) if outcome else 0))
    return {**values, "state": OutboxState.PENDING, "error": error[:255], "next": max(item.finished, now) + wait}


class Dispatcher:
    def __init__(
        self,
        engine: sa.Engine,
        transport: WebhookTransport,
        secrets: WebhookSecretStore,
        *,
        breaker: Breaker,
        concurrency: int,
        allow_private: bool,
        resolver=None,
        run_id: str | None = None,
        audit=None,
        redelivery: Redelivery = Redelivery(),
        lease_seconds: float = 60.0,
        owner: str | None = None,
    ):
        self.engine = engine
        self.transport = transport
        self.secrets = secrets
        self.breaker = breaker
        self.concurrency = concurrency
        self.allow_private = allow_private
        self.resolver = resolver
        self.run_id = run_id
        self.audit = audit or log  # Dagster's context.log in a run
        self.redelivery = redelivery
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = owner or leases.new_owner()
        self._secrets: dict[str, asyncio.Future] = {}
        self._gone: set[str] = set()
        self._unwritten: list[Settled] = []
        self._stopping = asyncio.Event()
        self._now = datetime.now(timezone.utc)
        self.report = DispatchReport()

    def _supersede(self) -> None:
        with self.engine.begin() as connection:
            clock = datetime.now(timezone.utc)
            self.report.superseded += len(leases.supersede_overtaken(connection, now=self._now, clock=clock))

    def _claim(self, limit: int, event_ids: list[str] | None) -> list[tuple[sa.Row, str]]:
        for _ in range(5):  # every candidate taken by other workers at the same instant: look again
            with self.engine.begin() as connection:
                clock = datetime.now(timezone.utc)
                rows, candidates = leases.claim(
                    connection,
                    self.owner,
                    now=self._now,
                    clock=clock,
                    lease_until=clock + self.lease,
                    limit=limit,
                    event_ids=event_ids,
                )
                urls = leases.endpoint_urls(connection, {r.endpoint_id for r in rows}) if rows else {}
            if rows or not candidates:
                break
        return [(row, urls[row.endpoint_id]) for row in rows]

    async def run(self, now: datetime | None = None, event_ids: list[str] | None = None) -> DispatchReport:
        """Claim and deliver due events (all, or just `event_ids`) until none is left for this run."""
        self._now = now or datetime.now(timezone.utc)
        await asyncio.to_thread(self._supersede)
        batch = max(4 * self.concurrency, 10)
        in_flight: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        flusher = asyncio.create_task(self._flush_periodically())
        renewer = asyncio.create_task(self._renew_periodically())
        try:
            while True:
                claimed = await asyncio.to_thread(self._claim, batch, event_ids)
                in_flight |= {asyncio.create_task(self._deliver(row, url)) for row, url in claimed}
                if len(claimed) == batch:  # more may be due: keep the transport busy, claim again soon
                    # The transport bounds requests in flight; deliveries sleeping through a retry's backoff
                    # hold none, so allow another batch of them before waiting.
                    while len(in_flight) > 2 * batch:
                        _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if not claimed and not in_flight and not self._unwritten:
                    break
                # Drained: settle what is in flight, so each group's next event (if due) becomes claimable.
                await asyncio.gather(*in_flight)
                in_flight = set()
                await self._flush()
        finally:
            await asyncio.gather(*in_flight, return_exceptions=True)
            # Stopped, never cancelled: a write cut short would leave its events leased, and then released
            # below, so another worker would send them again.
            self._stopping.set()
            await flusher
            renewer.cancel()
            await self._flush()
            await asyncio.to_thread(self._release)
        return self.report

    async def _deliver(self, event: sa.Row, url: str) -> None:
        if event.endpoint_id in self._gone:
            return  # released at the end; the endpoint is disabled
        if event.endpoint_id not in self._secrets:
            # One Vault read per endpoint per run, shared by every delivery that needs it meanwhile.
            self._secrets[event.endpoint_id] = asyncio.ensure_future(
                asyncio.to_thread(self.secrets.signing_secrets, event.endpoint_id)
            )
        try:
            secrets = await self._secrets[event.endpoint_id]
            outcome = await self.transport.deliver(
                url,
                event.payload.encode(),
                event.event_id,
                event.event_type,
                secrets,
                resolver=self.resolver,
                allow_private=self.allow_private,
            )
        except (MissingWebhookSecret, ValueError) as exc:  # no secret, or one that cannot sign: nothing sent
            self.audit.warning(f"event {event.event_id}: {exc}")
            self._unwritten.append(Settled(event, None, "signing_secret_unavailable", datetime.now(timezone.utc)))
            return
        if outcome.gone:
            self._gone.add(event.endpoint_id)
        self._unwritten.append(Settled(event, outcome, None, datetime.now(timezone.utc)))
        for attempt in outcome.attempts:
            audit(
                "webhook_delivery",
                event_id=event.event_id,
                event_type=event.event_type,
                tenant_id=event.tenant_id,
                exchange=event.exchange,
                credential_type=event.credential_type,
                endpoint_id=event.endpoint_id,
                attempt=event.attempts + attempt.attempt_no,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=int(attempt.duration_ms),
                run_id=self.run_id,
            )

    async def _flush_periodically(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), FLUSH_SECONDS)
            except TimeoutError:
                pass
            await self._flush()

    async def _renew_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            await asyncio.to_thread(self._renew)

    def _renew(self) -> None:
        with self.engine.begin() as connection:
            leases.renew(connection, self.owner, datetime.now(timezone.utc) + self.lease)

    def _release(self) -> None:
        with self.engine.begin() as connection:
            leases.release(connection, self.owner)

    async def _flush(self) -> None:
        batch, self._unwritten = self._unwritten, []
        if batch:
            await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[Settled]) -> None:
        """Log the attempts, settle the events and the endpoints' breaker counters, in one transaction,
        for the events this worker still holds."""
        with self.engine.begin() as connection:
            mine = leases.held(connection, self.owner, [item.event.event_id for item in batch])
            for item in batch:
                if item.event.event_id not in mine:
                    self.report.lost_leases += 1
                    self.audit.warning(
                        f"lease on event {item.event.event_id} lost (another worker owns it now): "
                        "its outcome is not written"
                    )
            batch = [item for item in batch if item.event.event_id in mine]
            if not batch:
                return
            attempts = [
                dict(
                    event_id=item.event.event_id,
                    endpoint_id=item.event.endpoint_id,
                    tenant_id=item.event.tenant_id,
                    event_type=item.event.event_type,
                    attempt_no=item.event.attempts + a.attempt_no,
                    attempted_at=a.started_at,
                    duration_ms=int(a.duration_ms),
                    status_code=a.status_code,
                    error=a.error[:255] if a.error else None,
                    response_excerpt=a.response_excerpt,
                    run_id=self.run_id,
                )
                for item in batch
                if item.outcome
                for a in item.outcome.attempts
            ]
            if attempts:
                connection.execute(webhook_delivery_log.insert(), attempts)
            settled = [settle(item, self._now, self.redelivery) for item in batch]
            leases.settle(connection, self.owner, settled)
            for values in settled:
                if values["state"] == OutboxState.DELIVERED:
                    self.report.delivered += 1
                elif values["state"] == OutboxState.FAILED:
                    self.report.failed += 1
                else:
                    self.report.deferred += 1
            sent = [(i.event.endpoint_id, i.outcome.delivered, i.outcome.gone, i.finished) for i in batch if i.outcome]
            if sent:
                self.report.disabled_endpoints += record_deliveries(connection, sent, self.breaker)
