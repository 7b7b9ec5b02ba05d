"""What every command shares: exit codes, settings read once, the database opened with a clear error, and
help text listing the environment a command reads (generated from the settings' variables)."""

from __future__ import annotations

import functools
import os
from fnmatch import fnmatch
from pathlib import Path

import click
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from credential_health.setting_parsers import check_database_url, shown_number
from credential_health.settings import Settings, variables
from credential_health.storage.database import make_engine, upgrade
from credential_health.storage.dialect import is_sqlite_url

# Exit codes (documented in the top-level help and the README). 2 is also click's own for usage errors.
RUNTIME_FAILURE = 1
USAGE_ERROR = 2
CONFIGURATION_ERROR = 3
EXIT_CODES_HELP = f"""\b
Exit codes:
  0  success
  {RUNTIME_FAILURE}  runtime failure: the database or Vault could not be reached, a webhook was not delivered
  {USAGE_ERROR}  usage error: a bad option or argument, or a tenant, endpoint or event that does not exist
  {CONFIGURATION_ERROR}  configuration error: a setting or database URL that cannot work, Vault refusing our login"""
DATABASE_VARIABLE = "CREDENTIAL_HEALTH_DATABASE_URL"
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10


class RuntimeFailure(click.ClickException):
    exit_code = RUNTIME_FAILURE


class InputError(click.ClickException):
    exit_code = USAGE_ERROR


class ConfigurationError(click.ClickException):
    exit_code = CONFIGURATION_ERROR


def environment_help(*patterns: str) -> str:
    """An epilog naming every setting that matches `patterns` (fnmatch), with its range and default."""
    lines = ["\b", "Environment (every setting is validated first; exit code 3 names a bad one):"]
    for known in variables():
        if not any(fnmatch(known.name, pattern) for pattern in patterns):
            continue
        bounds = known.bounds
        extra = f" Range {shown_number(bounds[0])} to {shown_number(bounds[1])}." if bounds else ""
        extra += f" Default {known.default}." if known.default else ""
        lines += [f"  {known.name}", f"      {known.description}{extra}"]
    return "\n".join(lines)


DATABASE_ENV = environment_help(DATABASE_VARIABLE)
NO_ENV = "\b\nEnvironment: none (no setting is read)."


def command_group(name: str, help_text: str) -> click.Group:
    """A group that prints its help when run bare (exit 0), like the top level."""

    @click.group(name=name, help=help_text, invoke_without_command=True)
    @click.pass_context
    def group(ctx: click.Context) -> None:
        if ctx.invoked_subcommand is None:
            click.echo(ctx.get_help())

    return group


def with_settings(command):
    """Reads and validates every setting before the command runs (a SettingsError becomes exit code 3)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        return command(Settings.from_env(), *args, **kwargs)

    return wrapper


def shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def open_database(settings: Settings, url: str | None = None, *, migrate: bool = True) -> sa.Engine:
    """The result database, checked before anything is written: a URL that cannot work is a configuration
    error; a server that does not answer is a runtime failure. No folder is created for a mistyped SQLite
    path (only the default location is created on first use)."""
    source = _named_by(url)
    url = check_database_url(source or "--url", url) if url else settings.database_url.get_secret_value()
    parsed = make_url(url)
    if is_sqlite_url(parsed):
        folder = Path(parsed.database or ".").parent
        if source and parsed.database not in (None, "", ":memory:") and not folder.is_dir():
            raise ConfigurationError(
                f"{source}: the folder {folder} does not exist; create it or fix the path (no database was created)"
            )
        engine = make_engine(url)
    else:
        # an unroutable host would otherwise hang for minutes (psycopg2 has no default timeout)
        engine = make_engine(url, connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS})
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise RuntimeFailure(f"cannot connect to the database {shown_url(url)}: {first_line(exc.orig)}") from None
    if migrate:
        upgrade(engine)
    return engine


def _named_by(url: str | None) -> str | None:
    """What chose the database (named in messages); None for the built-in default under ./.credential_health."""
    if url:
        return "--url"
    if os.environ.get(DATABASE_VARIABLE, "").strip():
        return DATABASE_VARIABLE
    return "DAGSTER_HOME" if os.environ.get("DAGSTER_HOME") else None


def first_line(error: BaseException | None) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
