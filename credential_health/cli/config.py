"""`credential-health config`: check every setting and show the values in effect (never a secret)."""

from __future__ import annotations

import json

import click
from pydantic import SecretStr

from credential_health.cli.common import environment_help, shown_url, with_settings
from credential_health.setting_checks import without_userinfo
from credential_health.settings import Settings, variables


def _shown(settings: Settings, attribute: str) -> str:
    value = getattr(settings, attribute)
    if attribute == "database_url":  # a secret that may be shown with its password masked
        return shown_url(value.get_secret_value())
    if isinstance(value, SecretStr):  # a URL is shown without its user and password; a token not at all
        text = value.get_secret_value()
        return without_userinfo(text) if "://" in text else "(set)" if text else "(unset)"
    if isinstance(value, dict):
        return json.dumps({key: without_userinfo(url) for key, url in value.items()})
    return without_userinfo(value) if isinstance(value, str) else str(value)


@click.command("config", epilog=environment_help("*"))
@with_settings
def command(settings: Settings) -> None:
    """Check every setting (exit code 3 names a bad one) and print the values in effect."""
    for known in variables():
        click.echo(f"{known.name}={_shown(settings, known.attribute)}")
