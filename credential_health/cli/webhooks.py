"""`credential-health webhooks ...`: register, inspect, enable/disable, rotate, test and replay tenant webhooks."""

from __future__ import annotations

import secrets as random_tokens
from datetime import datetime, timedelta, timezone

import click
import sqlalchemy as sa

from credential_health.cli.common import (
    DATABASE_ENV,
    InputError,
    RuntimeFailure,
    command_group,
    environment_help,
    open_database,
    with_settings,
)
from credential_health.models import OutboxState
from credential_health.notify.endpoints import EVENT_TYPES, add_endpoint, find_endpoints, set_active
from credential_health.notify.outbox import event_rows, requeue
from credential_health.notify.secrets import MissingWebhookSecret, WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.notify.ssrf import UnsafeWebhookURL
from credential_health.settings import Settings
from credential_health.storage.schema import webhook_events
from credential_health.vault.errors import NotFound

group = command_group("webhooks", "Tenant webhooks: add, list, enable, rotate, test, replay.")
VAULT_ENV = environment_help("CREDENTIAL_HEALTH_DATABASE_URL", "VAULT_*", "WEBHOOK_ALLOW_PRIVATE_URLS")
DELIVERY_ENV = environment_help(
    "CREDENTIAL_HEALTH_DATABASE_URL", "VAULT_*", "WEBHOOK_*", "CREDENTIAL_CONSECUTIVE_FAILURES_BEFORE_ALERT"
)
TARGET_HELP = "An endpoint id, or a tenant id for all of its endpoints."


class Timestamp(click.ParamType):
    """ISO 8601; a time without a zone is UTC."""

    name = "TIMESTAMP"

    def convert(self, value, param, ctx) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time such as 2026-11-21T00:00", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _targets(engine: sa.Engine, target: str) -> list[sa.Row]:
    with engine.connect() as connection:
        rows = find_endpoints(connection, target)
    if not rows:
        raise InputError(f"no webhook endpoint or tenant {target!r}")
    return rows


@group.command("add", epilog=VAULT_ENV)
@click.argument("tenant_id")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="Event type to send (repeatable; default: all).",
)
@with_settings
def add(settings: Settings, tenant_id: str, url: str, events: tuple[str, ...]) -> None:
    """Register URL for TENANT_ID; prints its signing secret once."""
    engine = open_database(settings)
    store = WebhookSecretStore.from_settings(settings)
    try:
        with engine.begin() as connection:
            endpoint_id = add_endpoint(
                connection,
                tenant_id,
                url,
                list(events or EVENT_TYPES),
                allow_private=settings.webhook_allow_private_urls,
            )
            secret = store.create(endpoint_id)  # a Vault failure rolls the row back
    except (UnsafeWebhookURL, ValueError) as exc:
        raise InputError(str(exc)) from None
    click.echo(f"endpoint {endpoint_id} registered for tenant {tenant_id}")
    click.echo(f"signing secret (shown once; verify with the standardwebhooks library): {secret}")


@group.command("list", epilog=DATABASE_ENV)
@with_settings
def list_endpoints(settings: Settings) -> None:
    """List every endpoint with its state (never a secret)."""
    with open_database(settings).connect() as connection:
        rows = list(
            connection.execute(
                sa.text(
                    "SELECT endpoint_id, tenant_id, url, event_types, active, disabled_reason, consecutive_failures "
                    "FROM tenant_webhooks ORDER BY tenant_id, created_at"
                )
            )
        )
    for row in rows:
        state = "active" if row.active else f"DISABLED ({row.disabled_reason})"
        click.echo(
            f"{row.endpoint_id}  {row.tenant_id}  {row.url}  [{row.event_types}]  {state}  "
            f"failures={row.consecutive_failures}"
        )


def _set_active(settings: Settings, target: str, active: bool, reason: str | None) -> None:
    engine = open_database(settings)
    rows = _targets(engine, target)
    with engine.begin() as connection:
        for row in rows:
            set_active(connection, row.endpoint_id, active, reason)
    for row in rows:
        click.echo(f"{row.endpoint_id} {'enabled' if active else 'disabled'}")


@group.command("disable", epilog=DATABASE_ENV)
@click.argument("target")
@click.option("--reason", default="disabled by an operator", show_default=True, help="Shown by `webhooks list`.")
@with_settings
def disable(settings: Settings, target: str, reason: str) -> None:
    """Stop sending to TARGET; its events stay recorded. TARGET: endpoint id or tenant id."""
    _set_active(settings, target, False, reason)


@group.command("enable", epilog=DATABASE_ENV)
@click.argument("target")
@with_settings
def enable(settings: Settings, target: str) -> None:
    """Send to TARGET again (clears the breaker). TARGET: endpoint id or tenant id."""
    _set_active(settings, target, True, None)


@group.command("rotate-secret", epilog=VAULT_ENV)
@click.argument("target")
@click.option(
    "--grace-hours",
    type=click.FloatRange(0, 24 * 30),
    default=24.0,
    show_default=True,
    help="How long the old secret keeps signing too.",
)
@with_settings
def rotate_secret(settings: Settings, target: str, grace_hours: float) -> None:
    """New signing secret for TARGET (endpoint id or tenant id); the old one also signs for a grace period."""
    engine = open_database(settings)
    store = WebhookSecretStore.from_settings(settings)
    for row in _targets(engine, target):
        try:
            secret = store.rotate(row.endpoint_id, timedelta(hours=grace_hours))
            note = f"the old one signs too for {grace_hours:g} h"
        except NotFound:  # the stored secret was lost: this is how it is re-created
            secret, note = store.create(row.endpoint_id), "there was no old one"
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE tenant_webhooks SET secret_rotated_at = :now WHERE endpoint_id = :id"),
                {"now": datetime.now(timezone.utc), "id": row.endpoint_id},
            )
        click.echo(f"{row.endpoint_id}: new signing secret (shown once; {note}): {secret}")


@group.command("test", epilog=DELIVERY_ENV)
@click.argument("tenant_id")
@with_settings
def test(settings: Settings, tenant_id: str) -> None:
    """Send a signed webhook.test event to TENANT_ID's active endpoints now."""
    engine = open_database(settings)
    with engine.connect() as connection:
        endpoints = [
            row.endpoint_id
            for row in find_endpoints(connection, tenant_id)
            if row.active and row.tenant_id == tenant_id
        ]
    if not endpoints:
        raise InputError(f"tenant {tenant_id!r} has no active endpoint")
    store = WebhookSecretStore.from_settings(settings)
    for endpoint_id in endpoints:  # before anything is written: an event that cannot be signed stays unsent
        try:
            store.signing_secrets(endpoint_id)
        except MissingWebhookSecret:
            raise RuntimeFailure(
                f"endpoint {endpoint_id} has no signing secret in Vault, so nothing was sent; "
                f"create one with `credential-health webhooks rotate-secret {endpoint_id}`"
            ) from None
    now = datetime.now(timezone.utc)
    rows = event_rows(
        "webhook.test",
        random_tokens.token_hex(8),
        None,
        tenant_id,
        settings.consecutive_failures_before_alert,
        now,
        now,
        endpoints,
        {"tenant_id": tenant_id},
    )
    with engine.begin() as connection:
        connection.execute(webhook_events.insert(), rows)
    _send(settings, engine, store, [row["event_id"] for row in rows])


@group.command("replay", epilog=DELIVERY_ENV)
@click.option("--event", "event_id", help="The webhook-id (msg_...) of one event.")
@click.option("--since", type=Timestamp(), help="Every event created at or after this time (UTC unless given).")
@click.option("--until", type=Timestamp(), help="With --since: only events created before this time.")
@with_settings
def replay(settings: Settings, event_id: str | None, since: datetime | None, until: datetime | None) -> None:
    """Send events again with their original webhook-id and body (give --event or --since)."""
    if bool(event_id) == bool(since):
        raise click.UsageError("give exactly one of --event and --since")
    if until and not since:
        raise click.UsageError("--until needs --since")
    engine = open_database(settings)
    with engine.begin() as connection:
        ids = requeue(connection, event_id=event_id, since=since, until=until)
    if not ids:
        raise InputError("no matching event")
    _send(settings, engine, WebhookSecretStore.from_settings(settings), ids)


def _send(settings: Settings, engine: sa.Engine, store: WebhookSecretStore, event_ids: list[str]) -> None:
    dispatch(settings, engine, store, event_ids=event_ids)
    with engine.connect() as connection:  # the outcome as recorded, whatever the dispatcher counted
        states = (
            connection.execute(
                sa.select(webhook_events.c.state, sa.func.count())
                .where(webhook_events.c.event_id.in_(event_ids))
                .group_by(webhook_events.c.state)
            )
            .tuples()
            .all()
        )
    counts = dict(states)
    shown = (OutboxState.DELIVERED, OutboxState.FAILED, OutboxState.PENDING)
    click.echo(
        ", ".join(f"{state} {counts.pop(state, 0)}" for state in shown)
        + "".join(f", {state} {count}" for state, count in sorted(counts.items()))
    )
    missing = len(event_ids) - sum(count for state, count in states if state == OutboxState.DELIVERED)
    if missing:
        raise RuntimeFailure(
            f"{missing} of {len(event_ids)} events not delivered (see `credential-health "
            f"webhooks list` and the delivery log)"
        )
