"""`credential-health db upgrade|current`: apply or show the result tables' migrations."""

from __future__ import annotations

from credential_health.settings import Settings
from credential_health.storage.database import current_revision, head_revision, make_engine, upgrade


def register(groups) -> None:
    parser = groups.add_parser("db", help="result-table migrations")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upgrade", help="apply migrations (idempotent)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.add_argument("--url", help="database URL (default: CREDENTIAL_HEALTH_DATABASE_URL)")
    up.set_defaults(handler=_upgrade)
    show = commands.add_parser("current", help="print the applied revision")
    show.add_argument("--url", help="database URL (default: CREDENTIAL_HEALTH_DATABASE_URL)")
    show.set_defaults(handler=_current)


def _engine(args):
    return make_engine(args.url or Settings.from_env().database_url)


def _upgrade(args) -> int:
    engine = _engine(args)
    revision = upgrade(engine, args.revision)
    print(f"database at revision {revision} (head {head_revision()}): {engine.url.render_as_string(hide_password=True)}")
    return 0


def _current(args) -> int:
    print(current_revision(_engine(args)) or "empty")
    return 0
