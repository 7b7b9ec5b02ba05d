"""`credential-health config`: check every setting and show the values in effect (never a secret)."""

from __future__ import annotations

import json
from dataclasses import fields

import click

from credential_health.cli.common import environment_help, shown_url, with_settings
from credential_health.setting_checks import without_userinfo
from credential_health.settings import SETTINGS, Settings


def _shown(settings: Settings, attribute: str, secret: bool) -> str:
    value = getattr(settings, attribute)
    if secret:
        return "(set)" if value else "(unset)"
    if attribute == "database_url":
        return shown_url(value)
    if isinstance(value, dict):
        return json.dumps({key: without_userinfo(url) for key, url in value.items()})
    return without_userinfo(value) if isinstance(value, str) else str(value)


@click.command("config", epilog=environment_help("*"))
@with_settings
def command(settings: Settings) -> None:
    """Check every setting (exit code 3 names a bad one) and print the values in effect."""
    secret = {f.name for f in fields(Settings) if not f.repr}  # the fields kept out of the repr: tokens
    for name, attribute, *_ in SETTINGS:
        click.echo(f"{name}={_shown(settings, attribute, attribute in secret)}")
