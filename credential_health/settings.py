"""Every setting, read once from the environment, validated, with a clear error naming the variable.

The README's configuration table documents the same list; `SETTINGS` below is its source.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from credential_health.setting_checks import database_url_problem, unknown_exchange, without_userinfo
from credential_health.scopes.risk import parse_levels as parse_risk_levels


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


Parser = Callable[[str, str], Any]
# Ceilings for entries that name none: finite, and small enough that no date overflows even read as days.
DEFAULT_INT_MAXIMUM = 100_000
DEFAULT_FLOAT_MAXIMUM = 100_000.0


def shown_number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _bounded(parse: Parser, minimum: float, maximum: float) -> Parser:
    parse.bounds = (minimum, maximum)  # read by the tests and the CLI's help
    return parse


def _int(minimum: int, maximum: int = DEFAULT_INT_MAXIMUM) -> Parser:
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


def _float(minimum: float, maximum: float = DEFAULT_FLOAT_MAXIMUM) -> Parser:
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


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _text(name: str, raw: str) -> str:
    return raw.strip()


def audit_log_destination(name: str, raw: str) -> str:
    """`stderr` (also for empty), `off`, or the path of a file the JSON lines are appended to."""
    value = raw.strip()
    if value.lower() in ("", "stderr", "off"):
        return value.lower() or "stderr"
    if Path(value).is_dir():
        raise SettingsError(f"{name} must be stderr, off or a file path, got the folder {value!r}")
    return value


def _path_segment(name: str, raw: str) -> str:
    value = raw.strip().strip("/")
    if not value:
        raise SettingsError(f"{name} must not be empty")
    return value


def _interval_hours(name: str, raw: str) -> int:
    value = _int(1, 24)(name, raw)
    if 24 % value:
        raise SettingsError(f"{name} must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24), got {value}")
    return value


_interval_hours.bounds = (1, 24)


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


def _http_url(name: str, raw: str) -> str:
    """An http(s) URL, or empty for "not configured"."""
    return checked_http_url(name, raw) if raw.strip() else ""


def check_database_url(name: str, raw: str) -> str:
    problem = database_url_problem(raw)
    if problem:
        raise SettingsError(f"{name} {problem}")
    return raw


def _database_url(name: str, raw: str) -> str:
    return check_database_url(name, raw.strip()) if raw.strip() else ""


def _exchange_urls(name: str, raw: str) -> dict[str, str]:
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
            raise SettingsError(f"{name}: the URL for {exchange!r} is empty (leave the exchange out to use "
                                f"its real API)")
        urls[exchange] = checked_http_url(f"{name}[{exchange}]", url)
    return urls


def _share(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a share between 0 and 1, got {raw!r}") from None
    if not 0 <= value <= 1:  # also rejects NaN and infinities
        raise SettingsError(f"{name} must be a share between 0 and 1, got {raw}")
    return value


def _first_window(name: str, raw: str) -> datetime | None:
    """An ISO date or date-time (UTC unless it names an offset); empty means "from the install"."""
    if not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be an ISO date or date-time such as 2026-11-01 or "
                            f"2026-11-01T06:00Z, got {raw!r}") from None
    if not 2000 <= value.year <= 2100:
        raise SettingsError(f"{name} must be a date between the years 2000 and 2100, got {raw!r}")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
def _optional_float(name: str, raw: str) -> float | None:
    return _float(0)(name, raw) if raw.strip() else None


def _exchange_budgets(name: str, raw: str) -> dict[str, float]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} must be a JSON object of exchange id to cost units per second: {exc}") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{name} must be a JSON object of exchange id to cost units per second")
    return {str(exchange): _float(0)(f"{name}[{exchange}]", str(rate)) for exchange, rate in value.items()}


def _redis_url(name: str, raw: str) -> str:
    value = raw.strip()
    if value and urlparse(value).scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(f"{name} must be a redis://, rediss:// or unix:// URL")
    return value


def _ip_address(name: str, raw: str) -> str:
    value = raw.strip()
    if value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise SettingsError(f"{name} must be an IP address of this host, got {value!r}") from None
    return value


def _ip_addresses(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses (empty: none)."""
    return tuple(_ip_address(name, part) for part in raw.split(",") if part.strip())


def default_database_url(env: Mapping[str, str]) -> str:
    """A SQLite file under the Dagster home when one is set, else under ./.credential_health/."""
    home = env.get("DAGSTER_HOME")
    folder = Path(home) if home else Path.cwd() / ".credential_health"
    return f"sqlite:///{folder / 'credential_health.db'}"


# (variable, attribute, parser, default, description). Defaults are the raw text the variable would hold.
# Numbers have a finite range (minimum, maximum): a timeout of inf or a retention of 1e9 days cannot work.
SETTINGS: list[tuple[str, str, Callable[[str, str], Any], str, str]] = [
    ("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "check_interval_hours", _interval_hours, "6",
     "Length of one validation window (partition), in hours; must divide 24."),
    ("CREDENTIAL_CONSECUTIVE_FAILURES_BEFORE_ALERT", "consecutive_failures_before_alert", _int(1, 1000), "3",
     "Consecutive `invalid` windows before `credential.failed` is sent."),
    ("CREDENTIAL_HEALTH_CHECK_RETRIES", "check_attempts", _int(1, 10), "3",
     "Attempts per check for transient exchange errors (1 = no retry)."),
    ("CREDENTIAL_HEALTH_CHECK_RETRY_DELAY_SECONDS", "check_retry_delay_seconds", _float(0, 60), "1",
     "Base delay of the in-check exponential backoff (with jitter)."),
    ("CREDENTIAL_HEALTH_CHECK_TIMEOUT_SECONDS", "check_timeout_seconds", _float(0.1, 300), "10",
     "Timeout of one exchange request."),
    ("CREDENTIAL_HEALTH_CHECK_CONCURRENCY", "check_concurrency", _int(1, 1000), "64",
     "Checks in flight at once, across all exchanges."),
    ("CREDENTIAL_HEALTH_EXCHANGE_RATE_LIMIT", "exchange_rate_limit", _optional_float, "",
     "Budget of every exchange per egress address, in ccxt cost units per second (Binance: 20 = 6,000 weight a "
     "minute); empty = each exchange's published limit less 5% (docs/scaling.md); 0 = unlimited."),
    ("CREDENTIAL_HEALTH_EXCHANGE_URLS", "exchange_urls", _exchange_urls, "",
     "JSON map of exchange id to API base URL (sandboxes, proxies, the simulator)."),
    ("CREDENTIAL_HEALTH_DATABASE_URL", "database_url", _database_url, "",
     "SQLAlchemy URL of the result tables; default a SQLite file under $DAGSTER_HOME or ./.credential_health/."),
    ("CREDENTIAL_HEALTH_CHECKS_RETENTION_DAYS", "checks_retention_days", _int(1, 36_500), "90",
     "Checks older than this are deleted by the retention job."),
    ("CREDENTIAL_HEALTH_DELIVERY_LOG_RETENTION_DAYS", "delivery_log_retention_days", _int(1, 36_500), "30",
     "Webhook delivery-log rows older than this are deleted by the retention job."),
    ("CREDENTIAL_HEALTH_PUSHGATEWAY_URL", "pushgateway_url", _http_url, "",
     "When set, runs push their metrics to this Prometheus Pushgateway."),
    ("CREDENTIAL_HEALTH_EXCHANGE_WIDE_SHARE", "exchange_wide_share", _float(0), "0.2",
     "Exchange-wide guard: above this share of previously valid credentials turning invalid in one window, "
     "the window's rejections are held as unknown (1 or more disables it)."),
    ("CREDENTIAL_HEALTH_EXCHANGE_WIDE_MIN_CREDENTIALS", "exchange_wide_min_credentials", _int(1), "10",
     "Exchange-wide guard: previously valid credentials an exchange needs before the guard applies."),
    ("CREDENTIAL_HEALTH_METRICS_CACHE_SECONDS", "metrics_cache_seconds", _float(0, 3600), "30",
     "The metrics exporter re-reads the tables at most this often (0 = on every scrape)."),
    ("CREDENTIAL_HEALTH_METRICS_TENANT_LABEL", "metrics_tenant_label", _bool, "false",
     "Add a `tenant_id` label to the per-credential metrics (one series per tenant: mind the cardinality)."),
    ("VAULT_ADDR", "vault_addr", _http_url, "http://127.0.0.1:8200", "Vault (or OpenBao) address."),
    ("VAULT_TOKEN", "vault_token", _text, "", "Token auth (one of three auth methods)."),
    ("VAULT_ROLE_ID", "vault_role_id", _text, "", "AppRole auth: role id (with VAULT_SECRET_ID)."),
    ("VAULT_SECRET_ID", "vault_secret_id", _text, "", "AppRole auth: secret id."),
    ("VAULT_APPROLE_MOUNT", "vault_approle_mount", _path_segment, "approle", "Mount point of the AppRole auth method."),
    ("VAULT_K8S_ROLE", "vault_k8s_role", _text, "", "Kubernetes auth: Vault role name."),
    ("VAULT_K8S_JWT_PATH", "vault_k8s_jwt_path", _text, "/var/run/secrets/kubernetes.io/serviceaccount/token",
     "Kubernetes auth: service-account token file."),
    ("VAULT_K8S_MOUNT", "vault_k8s_mount", _path_segment, "kubernetes", "Mount point of the Kubernetes auth method."),
    ("VAULT_NAMESPACE", "vault_namespace", _text, "", "Vault Enterprise / OpenBao namespace, if any."),
    ("VAULT_KV_MOUNT", "vault_kv_mount", _path_segment, "secret", "Mount point of the KV v2 engine."),
    ("VAULT_TENANTS_PATH", "vault_tenants_path", _path_segment, "tenants",
     "Folder holding {tenant_id}/{exchange}/{credential_type} secrets."),
    ("VAULT_WEBHOOK_SECRETS_PATH", "vault_webhook_secrets_path", _path_segment, "credential-health/webhooks",
     "Folder (outside the tenants tree) holding webhook signing secrets."),
    ("VAULT_TIMEOUT_SECONDS", "vault_timeout_seconds", _float(0.1, 300), "10", "Timeout of one Vault request."),
    ("WEBHOOK_TIMEOUT_SECONDS", "webhook_timeout_seconds", _float(0.1, 300), "10", "Timeout of one webhook attempt."),
    ("WEBHOOK_RETRY_ATTEMPTS", "webhook_retry_attempts", _int(0, 10), "3", "Retries after the first webhook attempt."),
    ("WEBHOOK_RETRY_BACKOFF_BASE", "webhook_retry_backoff_base", _float(0, 60), "1",
     "Webhook backoff: base x 2^n seconds, with jitter."),
    ("WEBHOOK_RETRY_AFTER_CAP_SECONDS", "webhook_retry_after_cap_seconds", _float(0, 3600), "60",
     "Longest Retry-After honoured within one delivery; longer defers the event to a later run."),
    ("WEBHOOK_CONCURRENCY", "webhook_concurrency", _int(1, 1000), "20", "Webhook deliveries in flight at once."),
    ("WEBHOOK_MIN_INTERVAL_SECONDS", "webhook_min_interval_seconds", _float(0, 604_800), "3600",
     "At most one webhook per credential within this many seconds."),
    ("WEBHOOK_BREAKER_FAILURES", "webhook_breaker_failures", _int(1, 10_000), "10",
     "Consecutive failed deliveries before an endpoint is disabled (with the period below)."),
    ("WEBHOOK_BREAKER_MIN_FAILING_HOURS", "webhook_breaker_min_failing_hours", _float(0, 8760), "24",
     "An endpoint must also have been failing this long before it is disabled."),
    ("WEBHOOK_ALLOW_PRIVATE_URLS", "webhook_allow_private_urls", _bool, "false",
     "Allow http:// and loopback/private webhook targets (demo and tests only)."),
    ("CREDENTIAL_HEALTH_LATE_AFTER_WINDOWS", "late_after_windows", _int(1), "1",
     "A scheduled check made more than this many windows after its window ended is late (a backfill): "
     "stored and shown, but it never extends a streak."),
    ("WEBHOOK_MAX_DELIVERY_RUNS", "webhook_max_delivery_runs", _int(1), "12",
     "Delivery runs an undelivered event gets (each up to 1 + WEBHOOK_RETRY_ATTEMPTS attempts) before it is failed."),
    ("WEBHOOK_REDELIVERY_DELAY_SECONDS", "webhook_redelivery_delay_seconds", _float(1), "60",
     "Wait before an undelivered event's next delivery run; doubles each run, at most 6 hours."),
    ("WEBHOOK_LEASE_SECONDS", "webhook_lease_seconds", _float(1), "60",
     "A delivery worker's claim on an event; renewed while it works, claimable by another worker once expired."),
    ("CREDENTIAL_HEALTH_FIRST_WINDOW", "first_window", _first_window, "",
     "Start (UTC) of the first window, aligned to the interval; default: four windows before the first start."),
    ("CREDENTIAL_HEALTH_INVENTORY_MAX_SHRINK", "inventory_max_shrink", _share, "0.2",
     "Largest share of credentials the inventory may lose between materialisations before its check fails."),
    ("CREDENTIAL_HEALTH_EXCHANGE_BUDGETS", "exchange_budgets", _exchange_budgets, "",
     "JSON map of exchange id to its budget per egress in ccxt cost units per second (beats the two above)."),
    ("CREDENTIAL_HEALTH_REDIS_URL", "redis_url", _redis_url, "",
     "When set, the exchange budget is a Redis token bucket shared by every process and machine."),
    ("CREDENTIAL_HEALTH_BUDGET_REDIS_PREFIX", "budget_redis_prefix", _path_segment, "credential_health:budget",
     "Prefix of the budget's Redis keys (one per exchange and egress); deployments sharing a Redis differ here."),
    ("CREDENTIAL_HEALTH_EGRESS_ADDRESS", "egress_address", _ip_address, "",
     "Source IP address exchange connections are bound to; each egress address has its own budget."),
    ("CREDENTIAL_HEALTH_PUBLISHED_EGRESS_ADDRESSES", "published_egress_addresses", _ip_addresses, "",
     "Comma-separated egress addresses tenants are told to allowlist; a key's allowlist is audited against them."),
    ("CREDENTIAL_HEALTH_AUDIT_LOG", "audit_log", audit_log_destination, "stderr",
     "Where the per-check and per-delivery-attempt JSON audit lines go: stderr, off, or a file path (appended)."),
    ("CREDENTIAL_HEALTH_SCOPE_RISK_LEVELS", "scope_risk_levels", parse_risk_levels, "",
     "JSON map of scope risk rule to level (warning, medium, high or off), overriding the defaults "
     "(docs/operations.md, \"Scope audit\")."),
]


@dataclass(frozen=True)
class Settings:
    check_interval_hours: int
    consecutive_failures_before_alert: int
    check_attempts: int
    check_retry_delay_seconds: float
    check_timeout_seconds: float
    check_concurrency: int
    exchange_rate_limit: float | None
    exchange_urls: dict[str, str]
    database_url: str
    checks_retention_days: int
    delivery_log_retention_days: int
    pushgateway_url: str
    exchange_wide_share: float
    exchange_wide_min_credentials: int
    metrics_cache_seconds: float
    metrics_tenant_label: bool
    vault_addr: str
    vault_token: str = field(repr=False)
    vault_role_id: str
    vault_secret_id: str = field(repr=False)
    vault_approle_mount: str
    vault_k8s_role: str
    vault_k8s_jwt_path: str
    vault_k8s_mount: str
    vault_namespace: str
    vault_kv_mount: str
    vault_tenants_path: str
    vault_webhook_secrets_path: str
    vault_timeout_seconds: float
    webhook_timeout_seconds: float
    webhook_retry_attempts: int
    webhook_retry_backoff_base: float
    webhook_retry_after_cap_seconds: float
    webhook_concurrency: int
    webhook_min_interval_seconds: float
    webhook_breaker_failures: int
    webhook_breaker_min_failing_hours: float
    webhook_allow_private_urls: bool
    late_after_windows: int
    webhook_max_delivery_runs: int
    webhook_redelivery_delay_seconds: float
    webhook_lease_seconds: float
    first_window: datetime | None
    inventory_max_shrink: float
    exchange_budgets: dict[str, float]
    redis_url: str
    budget_redis_prefix: str
    egress_address: str
    published_egress_addresses: tuple[str, ...]
    audit_log: str
    scope_risk_levels: dict[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {attr: parse(name, env.get(name, default)) for name, attr, parse, default, _ in SETTINGS}
        if not values["database_url"]:
            values["database_url"] = default_database_url(env)
        if not values["vault_addr"]:
            raise SettingsError("VAULT_ADDR must not be empty")
        if values["vault_role_id"] and not values["vault_secret_id"]:
            raise SettingsError("VAULT_ROLE_ID is set but VAULT_SECRET_ID is not (AppRole needs both)")
        return cls(**values)

    @property
    def vault_auth_method(self) -> str:
        """token, approle or kubernetes: the first one configured, in that order."""
        if self.vault_token:
            return "token"
        if self.vault_role_id:
            return "approle"
        if self.vault_k8s_role:
            return "kubernetes"
        return "none"


assert {f.name for f in fields(Settings)} == {s[1] for s in SETTINGS}, "SETTINGS and Settings drifted apart"


def get_settings() -> Settings:
    return Settings.from_env()
