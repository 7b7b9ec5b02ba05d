"""`credential-health db upgrade|current`: apply or show the result tables' migrations."""

from __future__ import annotations

import click
from alembic.util.exc import CommandError

from credential_health.cli.common import (
    DATABASE_ENV,
    InputError,
    command_group,
    open_database,
    shown_url,
    with_settings,
)
from credential_health.storage.database import current_revision, head_revision, upgrade

group = command_group("db", "Result-table migrations (Alembic).")
URL_HELP = "Database URL (default: CREDENTIAL_HEALTH_DATABASE_URL)."


@group.command("upgrade", epilog=DATABASE_ENV)
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--url", help=URL_HELP)
@with_settings
def upgrade_command(settings, revision: str, url: str | None) -> None:
    """Apply migrations (idempotent; runs also apply them on start)."""
    engine = open_database(settings, url, migrate=False)
    try:
        applied = upgrade(engine, revision)
    except CommandError as exc:  # Alembic's word for a revision it does not know
        raise InputError(f"--revision {revision!r}: {exc}") from None
    click.echo(f"database at revision {applied} (head {head_revision()}): {shown_url(str(engine.url))}")


@group.command("current", epilog=DATABASE_ENV)
@click.option("--url", help=URL_HELP)
@with_settings
def current_command(settings, url: str | None) -> None:
    """Print the applied revision ("empty" for a new database)."""
    click.echo(current_revision(open_database(settings, url, migrate=False)) or "empty")
