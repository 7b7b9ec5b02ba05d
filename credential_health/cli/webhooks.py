"""`credential-health webhooks ...`: register, inspect, enable/disable, rotate, test and replay tenant webhooks."""

from __future__ import annotations

import secrets as random_tokens
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from credential_health.notify.endpoints import EVENT_TYPES, add_endpoint, find_endpoints, set_active
from credential_health.notify.outbox import event_rows, requeue
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.notify.ssrf import UnsafeWebhookURL
from credential_health.settings import Settings
from credential_health.storage.database import make_engine, upgrade
from credential_health.storage.schema import webhook_events


def register(groups) -> None:
    parser = groups.add_parser("webhooks", help="tenant webhook endpoints")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="register an endpoint; prints its signing secret once")
    add.add_argument("tenant_id")
    add.add_argument("url")
    add.add_argument("--event", action="append", choices=EVENT_TYPES, help="event type (repeatable; default all)")
    add.set_defaults(handler=_add)
    commands.add_parser("list", help="list endpoints (never secrets)").set_defaults(handler=_list)
    for name, handler in (("disable", _disable), ("enable", _enable)):
        sub = commands.add_parser(name, help=f"{name} an endpoint (id) or all of a tenant's endpoints")
        sub.add_argument("target", help="endpoint id or tenant id")
        sub.add_argument("--reason", default="disabled by an operator")
        sub.set_defaults(handler=handler)
    rotate = commands.add_parser("rotate-secret", help="new signing secret; the old one also signs for a grace period")
    rotate.add_argument("target", help="endpoint id or tenant id")
    rotate.add_argument("--grace-hours", type=float, default=24.0)
    rotate.set_defaults(handler=_rotate)
    test = commands.add_parser("test", help="send a signed webhook.test event to the tenant's active endpoints")
    test.add_argument("tenant_id")
    test.set_defaults(handler=_test)
    replay = commands.add_parser("replay", help="send events again with their original webhook-id")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", dest="event_id")
    which.add_argument("--since", type=_timestamp)
    replay.add_argument("--until", type=_timestamp)
    replay.set_defaults(handler=_replay)


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _context():
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return settings, engine


def _targets(engine, target: str) -> list[sa.Row]:
    with engine.connect() as connection:
        rows = find_endpoints(connection, target)
    if not rows:
        raise SystemExit(f"credential-health: no webhook endpoint or tenant {target!r}")
    return rows


def _add(args) -> int:
    settings, engine = _context()
    try:
        with engine.begin() as connection:
            endpoint_id = add_endpoint(connection, args.tenant_id, args.url, args.event or list(EVENT_TYPES),
                                       allow_private=settings.webhook_allow_private_urls)
            secret = WebhookSecretStore.from_settings(settings).create(endpoint_id)  # rolls back the row if Vault fails
    except (UnsafeWebhookURL, ValueError) as exc:
        print(f"credential-health: {exc}")
        return 2
    print(f"endpoint {endpoint_id} registered for tenant {args.tenant_id}")
    print(f"signing secret (shown once; verify with the standardwebhooks library): {secret}")
    return 0


def _list(args) -> int:
    _, engine = _context()
    with engine.connect() as connection:
        rows = list(connection.execute(sa.text(
            "SELECT endpoint_id, tenant_id, url, event_types, active, disabled_reason, consecutive_failures "
            "FROM tenant_webhooks ORDER BY tenant_id, created_at")))
    for row in rows:
        state = "active" if row.active else f"DISABLED ({row.disabled_reason})"
        print(f"{row.endpoint_id}  {row.tenant_id}  {row.url}  [{row.event_types}]  {state}  "
              f"failures={row.consecutive_failures}")
    return 0


def _set_active(args, active: bool) -> int:
    _, engine = _context()
    with engine.begin() as connection:
        for row in _targets(engine, args.target):
            set_active(connection, row.endpoint_id, active, None if active else args.reason)
            print(f"{row.endpoint_id} {'enabled' if active else 'disabled'}")
    return 0


def _disable(args) -> int:
    return _set_active(args, False)


def _enable(args) -> int:
    return _set_active(args, True)


def _rotate(args) -> int:
    settings, engine = _context()
    store = WebhookSecretStore.from_settings(settings)
    for row in _targets(engine, args.target):
        secret = store.rotate(row.endpoint_id, timedelta(hours=args.grace_hours))
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE tenant_webhooks SET secret_rotated_at = :now WHERE endpoint_id = :id"),
                               {"now": datetime.now(timezone.utc), "id": row.endpoint_id})
        print(f"{row.endpoint_id}: new signing secret (shown once; the old one signs too for "
              f"{args.grace_hours:g} h): {secret}")
    return 0


def _test(args) -> int:
    settings, engine = _context()
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        endpoints = [row.endpoint_id for row in find_endpoints(connection, args.tenant_id)
                     if row.active and row.tenant_id == args.tenant_id]
        if not endpoints:
            print(f"credential-health: tenant {args.tenant_id!r} has no active endpoint")
            return 2
        rows = event_rows("webhook.test", random_tokens.token_hex(8), None, args.tenant_id,
                          settings.consecutive_failures_before_alert, now, now, endpoints, {"tenant_id": args.tenant_id})
        connection.execute(webhook_events.insert(), rows)
    return _send(settings, engine, [row["event_id"] for row in rows])


def _replay(args) -> int:
    settings, engine = _context()
    with engine.begin() as connection:
        ids = requeue(connection, event_id=args.event_id, since=args.since, until=args.until)
    if not ids:
        print("credential-health: no matching event")
        return 2
    return _send(settings, engine, ids)


def _send(settings: Settings, engine, event_ids: list[str]) -> int:
    report = dispatch(settings, engine, WebhookSecretStore.from_settings(settings), event_ids=event_ids)
    print(f"delivered {report.delivered}, failed {report.failed}, pending {report.deferred}")
    return 0 if report.delivered == len(event_ids) else 1
