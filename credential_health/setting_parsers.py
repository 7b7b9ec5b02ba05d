"""How each setting's text becomes a value: one parser per kind, `parse(variable, raw)`, each raising
SettingsError with a message that starts with the variable's name and never echoes a password."""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from credential_health.setting_checks import database_url_problem, unknown_exchange, without_userinfo


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


Parser = Callable[[str, str], Any]
# Ceilings for entries that name none: finite, and small enough that no date overflows even read as days.
DEFAULT_INT_MAXIMUM = 100_000
DEFAULT_FLOAT_MAXIMUM = 100_000.0


def shown_number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _bounded(parse: Parser, minimum: float, maximum: float) -> Parser:
    parse.bounds = (minimum, maximum)  # type: ignore[attr-defined]  # a function attribute: the tests and the CLI's help read it
    return parse


def whole(minimum: int, maximum: int = DEFAULT_INT_MAXIMUM) -> Parser:
    """A parser of whole numbers from `minimum` to `maximum`."""
    allowed = f"a whole number from {minimum} to {maximum}"

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise SettingsError(f"{name} must be {allowed}, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise SettingsError(f"{name} must be {allowed}, got {value}")
        return value

    return _bounded(parse, minimum, maximum)


def number(minimum: float, maximum: float = DEFAULT_FLOAT_MAXIMUM) -> Parser:
    """A parser of finite numbers from `minimum` to `maximum`."""
    allowed = f"a number from {shown_number(minimum)} to {shown_number(maximum)}"

    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise SettingsError(f"{name} must be {allowed}, got {raw!r}") from None
        # inf, nan and 1e999 (which float() turns into inf) fail this test too
        if not (math.isfinite(value) and minimum <= value <= maximum):
            raise SettingsError(f"{name} must be {allowed}, got {raw.strip()!r}")
        return value

    return _bounded(parse, minimum, maximum)


def boolean(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def text(name: str, raw: str) -> str:
    return raw.strip()


def audit_log_destination(name: str, raw: str) -> str:
    """`stderr` (also for empty), `off`, or the path of a file the JSON lines are appended to."""
    value = raw.strip()
    if value.lower() in ("", "stderr", "off"):
        return value.lower() or "stderr"
    if Path(value).is_dir():
        raise SettingsError(f"{name} must be stderr, off or a file path, got the folder {value!r}")
    return value


def path_segment(name: str, raw: str) -> str:
    value = raw.strip().strip("/")
    if not value:
        raise SettingsError(f"{name} must not be empty")
    return value


def interval_hours(name: str, raw: str) -> int:
    """A window length in hours that divides the day."""
    value = whole(1, 24)(name, raw)
    if 24 % value:
        raise SettingsError(f"{name} must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24), got {value}")
    return value


interval_hours.bounds = (1, 24)  # type: ignore[attr-defined]  # as _bounded sets it


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


def optional_http_url(name: str, raw: str) -> str:
    """An http(s) URL, or empty for "not configured"."""
    return checked_http_url(name, raw) if raw.strip() else ""


def check_database_url(name: str, raw: str) -> str:
    problem = database_url_problem(raw)
    if problem:
        raise SettingsError(f"{name} {problem}")
    return raw


def optional_database_url(name: str, raw: str) -> str:
    return check_database_url(name, raw.strip()) if raw.strip() else ""


def exchange_urls(name: str, raw: str) -> dict[str, str]:
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
        if unknown_exchange(exchange):
            raise SettingsError(f"{name}: {unknown_exchange(exchange)}")
        if not isinstance(url, str):
            raise SettingsError(f"{name}: the URL for {exchange!r} must be a string")
        if not url.strip():  # an empty override would silently mean the real exchange
            raise SettingsError(
                f"{name}: the URL for {exchange!r} is empty (leave the exchange out to use its real API)"
            )
        urls[exchange] = checked_http_url(f"{name}[{exchange}]", url)
    return urls


def share(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a share between 0 and 1, got {raw!r}") from None
    if not 0 <= value <= 1:  # also rejects NaN and infinities
        raise SettingsError(f"{name} must be a share between 0 and 1, got {raw}")
    return value


def first_window(name: str, raw: str) -> datetime | None:
    """An ISO date or date-time (UTC unless it names an offset); empty means "from the install"."""
    if not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise SettingsError(
            f"{name} must be an ISO date or date-time such as 2026-11-01 or 2026-11-01T06:00Z, got {raw!r}"
        ) from None
    if not 2000 <= value.year <= 2100:
        raise SettingsError(f"{name} must be a date between the years 2000 and 2100, got {raw!r}")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def optional_number(name: str, raw: str) -> float | None:
    return number(0)(name, raw) if raw.strip() else None


def exchange_budgets(name: str, raw: str) -> dict[str, float]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} must be a JSON object of exchange id to cost units per second: {exc}") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{name} must be a JSON object of exchange id to cost units per second")
    return {str(exchange): number(0)(f"{name}[{exchange}]", str(rate)) for exchange, rate in value.items()}


def redis_url(name: str, raw: str) -> str:
    value = raw.strip()
    if value and urlparse(value).scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(f"{name} must be a redis://, rediss:// or unix:// URL")
    return value


def ip_address(name: str, raw: str) -> str:
    value = raw.strip()
    if value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise SettingsError(f"{name} must be an IP address of this host, got {value!r}") from None
    return value


def ip_addresses(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses (empty: none)."""
    return tuple(ip_address(name, part) for part in raw.split(",") if part.strip())


EXECUTORS = ("in_process", "celery", "k8s")


def executor(name: str, raw: str) -> str:
    value = raw.strip().lower() or "in_process"
    if value not in EXECUTORS:
        raise SettingsError(f"{name} must be one of {', '.join(EXECUTORS)}, got {raw!r}")
    return value


def pool_names(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated egress pool names: letters, digits, - and _ (each is a Celery queue and a Dagster pool)."""
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not names or len(set(names)) != len(names) or not all(re.fullmatch(r"[A-Za-z0-9_-]{1,60}", n) for n in names):
        raise SettingsError(f"{name} must be distinct names of letters, digits, - and _, got {raw!r}")
    return names


def broker_url(name: str, raw: str) -> str:
    value = raw.strip()
    if value and urlparse(value).scheme not in ("redis", "rediss", "amqp", "pyamqp", "amqps"):
        raise SettingsError(f"{name} must be a redis:// or amqp:// URL")
    return value


def default_database_url(env: Mapping[str, str]) -> str:
    """A SQLite file under the Dagster home when one is set, else under ./.credential_health/."""
    home = env.get("DAGSTER_HOME")
    folder = Path(home) if home else Path.cwd() / ".credential_health"
    return f"sqlite:///{folder / 'credential_health.db'}"
