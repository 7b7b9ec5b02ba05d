"""One delivery run: claim due outbox events with a lease and deliver them (the rollup writes the events)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from credential_health.notify.dispatcher import Dispatcher, DispatchReport, Redelivery
from credential_health.notify.endpoints import Breaker
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.transport import WebhookTransport
from credential_health.settings import Settings

# httpx logs every request URL at INFO; a tenant's webhook path may carry a token of theirs.
logging.getLogger("httpx").setLevel(logging.WARNING)


def breaker_from_settings(settings: Settings) -> Breaker:
    return Breaker(settings.webhook_breaker_failures, timedelta(hours=settings.webhook_breaker_min_failing_hours))


def redelivery_from_settings(settings: Settings) -> Redelivery:
    return Redelivery(settings.webhook_max_delivery_runs, timedelta(seconds=settings.webhook_redelivery_delay_seconds))


def dispatch(
    settings: Settings,
    engine: sa.Engine,
    secrets: WebhookSecretStore,
    *,
    run_id: str | None = None,
    audit=None,
    resolver=None,
    event_ids: list[str] | None = None,
    now: datetime | None = None,
) -> DispatchReport:
    """Claim and deliver due events (all, or just `event_ids`) with the configured policy, breaker and SSRF rules."""

    async def go() -> DispatchReport:
        async with WebhookTransport.from_settings(settings) as transport:
            dispatcher = Dispatcher(
                engine,
                transport,
                secrets,
                breaker=breaker_from_settings(settings),
                concurrency=settings.webhook_concurrency,
                allow_private=settings.webhook_allow_private_urls,
                resolver=resolver,
                run_id=run_id,
                audit=audit,
                redelivery=redelivery_from_settings(settings),
                lease_seconds=settings.webhook_lease_seconds,
            )
            return await dispatcher.run(now=now, event_ids=event_ids)

    return asyncio.run(go())
