"""Checks for the settings that are URLs or names: http(s) addresses, exchange overrides, database URLs.

Messages name the variable and never echo a password.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def without_userinfo(url: str) -> str:
    """The URL as it may be shown in a message: a user:password@ part is masked."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def checked_http_url(name: str, raw: str) -> str:
    """An http(s) URL with a host and, if given, a port from 1 to 65535; trailing slashes dropped."""
    value = raw.strip().rstrip("/")
    shown = without_userinfo(raw.strip())
    if any(character.isspace() for character in value):
        raise SettingsError(f"{name} must be an http(s) URL without spaces, got {shown!r}")
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(f"{name} must be an http(s) URL with a host, got {shown!r}")
    try:
        port = parsed.port
    except ValueError:
        port = 0
    if port == 0:
        raise SettingsError(f"{name} has an invalid port (1 to 65535 allowed): {shown!r}")
    return value


@functools.lru_cache(maxsize=1)
def ccxt_exchange_ids() -> frozenset[str]:
    """ccxt's exchange ids: one module per exchange in the ccxt package (listed without importing ccxt,
    which takes two seconds)."""
    spec = importlib.util.find_spec("ccxt")
    folders = spec.submodule_search_locations if spec else []
    return frozenset(path.stem for folder in folders for path in Path(folder).glob("*.py")
                     if not path.stem.startswith("_"))


def parse_exchange_urls(name: str, raw: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} must be a JSON object of exchange id to base URL: {exc}") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{name} must be a JSON object of exchange id to base URL")
    urls = {}
    for exchange, url in value.items():
        if exchange not in ccxt_exchange_ids():
            close = difflib.get_close_matches(exchange, sorted(ccxt_exchange_ids()), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingsError(f"{name}: {exchange!r} is not a ccxt exchange id{hint}")
        if not isinstance(url, str):
            raise SettingsError(f"{name}: the URL for {exchange!r} must be a string")
        if not url.strip():  # an empty override would silently mean the real exchange
            raise SettingsError(f"{name}: the URL for {exchange!r} is empty (leave the exchange out to use "
                                f"its real API)")
        urls[exchange] = checked_http_url(f"{name}[{exchange}]", url)
    return urls


DATABASE_BACKENDS = ("sqlite", "postgresql")


def check_database_url(name: str, raw: str) -> str:
    """A SQLAlchemy URL for SQLite or PostgreSQL whose driver SQLAlchemy knows; the password is never echoed."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(f"{name} is not a database URL (expected sqlite:///PATH or "
                            f"postgresql+psycopg2://USER@HOST/DB)") from None
    if url.get_backend_name() not in DATABASE_BACKENDS:
        raise SettingsError(f"{name} must be a SQLite or PostgreSQL URL, got the scheme {url.drivername!r}")
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise SettingsError(f"{name} names an unknown database driver {url.drivername!r}") from None
    return raw
