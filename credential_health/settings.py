"""Every setting, read once from the environment by pydantic-settings, validated, with a clear error naming the
variable. Each field of `Settings` is one variable: its name, parser, default text and description.

A new setting is one field, `attribute: type = setting("VARIABLE", parser, "default text", "description")`
(setting_fields), with a parser from setting_parsers, plus its row in the README's configuration table (a test
checks the table against `variables()`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import datetime

from pydantic import SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from credential_health import setting_parsers as parse
from credential_health.scopes.risk import parse_levels as parse_risk_levels
from credential_health.setting_fields import Environment, Variable, first_problem, setting, variables_of
from credential_health.setting_parsers import SettingsError

__all__ = ["Settings", "SettingsError", "Variable", "variable", "variables"]


class Settings(BaseSettings):
    """Every setting in effect; `from_env` reads and checks them all once. Secrets are SecretStr."""

    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, extra="ignore", enable_decoding=False)

    check_interval_hours: int = setting(
        "CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS",
        parse.interval_hours,
        "6",
        "Length of one validation window (partition), in hours; must divide 24.",
    )
    consecutive_failures_before_alert: int = setting(
        "CREDENTIAL_CONSECUTIVE_FAILURES_BEFORE_ALERT",
        parse.whole(1, 1000),
        "3",
        "Consecutive `invalid` windows before `credential.failed` is sent.",
    )
    check_attempts: int = setting(
        "CREDENTIAL_HEALTH_CHECK_RETRIES",
        parse.whole(1, 10),
        "3",
        "Attempts per check for transient exchange errors (1 = no retry).",
    )
    check_retry_delay_seconds: float = setting(
        "CREDENTIAL_HEALTH_CHECK_RETRY_DELAY_SECONDS",
        parse.number(0, 60),
        "1",
        "Base delay of the in-check exponential backoff (with jitter).",
    )
    check_timeout_seconds: float = setting(
        "CREDENTIAL_HEALTH_CHECK_TIMEOUT_SECONDS", parse.number(0.1, 300), "10", "Timeout of one exchange request."
    )
    check_concurrency: int = setting(
        "CREDENTIAL_HEALTH_CHECK_CONCURRENCY",
        parse.whole(1, 1000),
        "128",
        "Checks in flight at once, across all exchanges.",
    )
    exchange_rate_limit: float | None = setting(
        "CREDENTIAL_HEALTH_EXCHANGE_RATE_LIMIT",
        parse.optional_number,
        "",
        "Budget of every exchange per egress address, in ccxt cost units per second (Binance: 20 = 6,000 weight a "
        "minute); empty = each exchange's published limit less 5% (docs/scaling.md); 0 = unlimited.",
    )
    exchange_urls: dict[str, str] = setting(
        "CREDENTIAL_HEALTH_EXCHANGE_URLS",
        parse.exchange_urls,
        "",
        "JSON map of exchange id to API base URL (sandboxes, proxies, the simulator).",
    )
    database_url: SecretStr = setting(
        "CREDENTIAL_HEALTH_DATABASE_URL",
        parse.optional_database_url,
        "",
        "SQLAlchemy URL of the result tables; default a SQLite file under $DAGSTER_HOME or ./.credential_health/.",
    )
    checks_retention_days: int = setting(
        "CREDENTIAL_HEALTH_CHECKS_RETENTION_DAYS",
        parse.whole(1, 36_500),
        "90",
        "Checks older than this are deleted by the retention job.",
    )
    delivery_log_retention_days: int = setting(
        "CREDENTIAL_HEALTH_DELIVERY_LOG_RETENTION_DAYS",
        parse.whole(1, 36_500),
        "30",
        "Webhook delivery-log rows older than this are deleted by the retention job.",
    )
    pushgateway_url: str = setting(
        "CREDENTIAL_HEALTH_PUSHGATEWAY_URL",
        parse.optional_http_url,
        "",
        "When set, runs push their metrics to this Prometheus Pushgateway.",
    )
    exchange_wide_share: float = setting(
        "CREDENTIAL_HEALTH_EXCHANGE_WIDE_SHARE",
        parse.number(0),
        "0.2",
        "Exchange-wide guard: above this share of previously valid credentials turning invalid in one window, the "
        "window's rejections are held as unknown (1 or more disables it).",
    )
    exchange_wide_min_credentials: int = setting(
        "CREDENTIAL_HEALTH_EXCHANGE_WIDE_MIN_CREDENTIALS",
        parse.whole(1),
        "10",
        "Exchange-wide guard: previously valid credentials an exchange needs before the guard applies.",
    )
    metrics_cache_seconds: float = setting(
        "CREDENTIAL_HEALTH_METRICS_CACHE_SECONDS",
        parse.number(0, 3600),
        "30",
        "The metrics exporter re-reads the tables at most this often (0 = on every scrape).",
    )
    metrics_tenant_label: bool = setting(
        "CREDENTIAL_HEALTH_METRICS_TENANT_LABEL",
        parse.boolean,
        "false",
        "Add a `tenant_id` label to the per-credential metrics (one series per tenant: mind the cardinality).",
    )
    vault_addr: str = setting(
        "VAULT_ADDR", parse.optional_http_url, "http://127.0.0.1:8200", "Vault (or OpenBao) address."
    )
    vault_token: SecretStr = setting("VAULT_TOKEN", parse.text, "", "Token auth (one of three auth methods).")
    vault_role_id: str = setting("VAULT_ROLE_ID", parse.text, "", "AppRole auth: role id (with VAULT_SECRET_ID).")
    vault_secret_id: SecretStr = setting("VAULT_SECRET_ID", parse.text, "", "AppRole auth: secret id.")
    vault_approle_mount: str = setting(
        "VAULT_APPROLE_MOUNT", parse.path_segment, "approle", "Mount point of the AppRole auth method."
    )
    vault_k8s_role: str = setting("VAULT_K8S_ROLE", parse.text, "", "Kubernetes auth: Vault role name.")
    vault_k8s_jwt_path: str = setting(
        "VAULT_K8S_JWT_PATH",
        parse.text,
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "Kubernetes auth: service-account token file.",
    )
    vault_k8s_mount: str = setting(
        "VAULT_K8S_MOUNT", parse.path_segment, "kubernetes", "Mount point of the Kubernetes auth method."
    )
    vault_namespace: str = setting("VAULT_NAMESPACE", parse.text, "", "Vault Enterprise / OpenBao namespace, if any.")
    vault_kv_mount: str = setting("VAULT_KV_MOUNT", parse.path_segment, "secret", "Mount point of the KV v2 engine.")
    vault_tenants_path: str = setting(
        "VAULT_TENANTS_PATH",
        parse.path_segment,
        "tenants",
        "Folder holding {tenant_id}/{exchange}/{credential_type} secrets.",
    )
    vault_webhook_secrets_path: str = setting(
        "VAULT_WEBHOOK_SECRETS_PATH",
        parse.path_segment,
        "credential-health/webhooks",
        "Folder (outside the tenants tree) holding webhook signing secrets.",
    )
    vault_timeout_seconds: float = setting(
        "VAULT_TIMEOUT_SECONDS", parse.number(0.1, 300), "10", "Timeout of one Vault request."
    )
    webhook_timeout_seconds: float = setting(
        "WEBHOOK_TIMEOUT_SECONDS", parse.number(0.1, 300), "10", "Timeout of one webhook attempt."
    )
    webhook_retry_attempts: int = setting(
        "WEBHOOK_RETRY_ATTEMPTS", parse.whole(0, 10), "3", "Retries after the first webhook attempt."
    )
    webhook_retry_backoff_base: float = setting(
        "WEBHOOK_RETRY_BACKOFF_BASE", parse.number(0, 60), "1", "Webhook backoff: base x 2^n seconds, with jitter."
    )
    webhook_retry_after_cap_seconds: float = setting(
        "WEBHOOK_RETRY_AFTER_CAP_SECONDS",
        parse.number(0, 3600),
        "60",
        "Longest Retry-After honoured within one delivery; longer defers the event to a later run.",
    )
    webhook_concurrency: int = setting(
        "WEBHOOK_CONCURRENCY", parse.whole(1, 1000), "20", "Webhook deliveries in flight at once."
    )
    webhook_min_interval_seconds: float = setting(
        "WEBHOOK_MIN_INTERVAL_SECONDS",
        parse.number(0, 604_800),
        "3600",
        "At most one webhook per credential within this many seconds.",
    )
    webhook_breaker_failures: int = setting(
        "WEBHOOK_BREAKER_FAILURES",
        parse.whole(1, 10_000),
        "10",
        "Consecutive failed deliveries before an endpoint is disabled (with the period below).",
    )
    webhook_breaker_min_failing_hours: float = setting(
        "WEBHOOK_BREAKER_MIN_FAILING_HOURS",
        parse.number(0, 8760),
        "24",
        "An endpoint must also have been failing this long before it is disabled.",
    )
    webhook_allow_private_urls: bool = setting(
        "WEBHOOK_ALLOW_PRIVATE_URLS",
        parse.boolean,
        "false",
        "Allow http:// and loopback/private webhook targets (demo and tests only).",
    )
    late_after_windows: int = setting(
        "CREDENTIAL_HEALTH_LATE_AFTER_WINDOWS",
        parse.whole(1),
        "1",
        "A scheduled check made more than this many windows after its window ended is late (a backfill): stored and "
        "shown, but it never extends a streak.",
    )
    webhook_max_delivery_runs: int = setting(
        "WEBHOOK_MAX_DELIVERY_RUNS",
        parse.whole(1),
        "12",
        "Delivery runs an undelivered event gets (each up to 1 + WEBHOOK_RETRY_ATTEMPTS attempts) before it is failed.",
    )
    webhook_redelivery_delay_seconds: float = setting(
        "WEBHOOK_REDELIVERY_DELAY_SECONDS",
        parse.number(1),
        "60",
        "Wait before an undelivered event's next delivery run; doubles each run, at most 6 hours.",
    )
    webhook_lease_seconds: float = setting(
        "WEBHOOK_LEASE_SECONDS",
        parse.number(1),
        "60",
        "A delivery worker's claim on an event; renewed while it works, claimable by another worker once expired.",
    )
    first_window: datetime | None = setting(
        "CREDENTIAL_HEALTH_FIRST_WINDOW",
        parse.first_window,
        "",
        "Start (UTC) of the first window, aligned to the interval; default: four windows before the first start.",
    )
    inventory_max_shrink: float = setting(
        "CREDENTIAL_HEALTH_INVENTORY_MAX_SHRINK",
        parse.share,
        "0.2",
        "Largest share of credentials the inventory may lose between materialisations before its check fails.",
    )
    exchange_budgets: dict[str, float] = setting(
        "CREDENTIAL_HEALTH_EXCHANGE_BUDGETS",
        parse.exchange_budgets,
        "",
        "JSON map of exchange id to its budget per egress in ccxt cost units per second (beats the two above).",
    )
    redis_url: SecretStr = setting(
        "CREDENTIAL_HEALTH_REDIS_URL",
        parse.redis_url,
        "",
        "When set, the exchange budget is a Redis token bucket shared by every process and machine.",
    )
    budget_redis_prefix: str = setting(
        "CREDENTIAL_HEALTH_BUDGET_REDIS_PREFIX",
        parse.path_segment,
        "credential_health:budget",
        "Prefix of the budget's Redis keys (one per exchange and egress); deployments sharing a Redis differ here.",
    )
    egress_address: str = setting(
        "CREDENTIAL_HEALTH_EGRESS_ADDRESS",
        parse.ip_address,
        "",
        "Source IP address exchange connections are bound to; each egress address has its own budget.",
    )
    published_egress_addresses: tuple[str, ...] = setting(
        "CREDENTIAL_HEALTH_PUBLISHED_EGRESS_ADDRESSES",
        parse.ip_addresses,
        "",
        "Comma-separated egress addresses tenants are told to allowlist; a key's allowlist is audited against them.",
    )
    executor: str = setting(
        "CREDENTIAL_HEALTH_EXECUTOR",
        parse.executor,
        "in_process",
        "How a window's steps run: in_process (one process), celery (Celery workers) or k8s (a pod per step).",
    )
    shards: int = setting(
        "CREDENTIAL_HEALTH_SHARDS",
        parse.whole(1, 100_000),
        "1",
        "Shards a window's validation fans out into, by a stable hash of the credential (thousands each).",
    )
    egress_pools: tuple[str, ...] = setting(
        "CREDENTIAL_HEALTH_EGRESS_POOLS",
        parse.pool_names,
        "default",
        "Comma-separated egress pools; shards are dealt round-robin to them, each a Celery queue and a Dagster pool.",
    )
    celery_broker: SecretStr = setting(
        "CREDENTIAL_HEALTH_CELERY_BROKER",
        parse.broker_url,
        "",
        "Celery broker URL (redis:// or amqp://); default CREDENTIAL_HEALTH_REDIS_URL.",
    )
    celery_queue: str = setting(
        "CREDENTIAL_HEALTH_CELERY_QUEUE",
        parse.path_segment,
        "credential_health",
        "Celery queue of the steps that are not shards (inventory, plan, finish, rollup).",
    )
    scope_risk_levels: dict[str, str] = setting(
        "CREDENTIAL_HEALTH_SCOPE_RISK_LEVELS",
        parse_risk_levels,
        "",
        "JSON map of scope risk rule to level (warning, medium, high or off), overriding the defaults "
        '(docs/operations.md, "Scope audit").',
    )
    audit_log: str = setting(
        "CREDENTIAL_HEALTH_AUDIT_LOG",
        parse.audit_log_destination,
        "stderr",
        "Where the per-check and per-delivery-attempt JSON audit lines go: stderr, off, or a file path (appended).",
    )

    @model_validator(mode="after")
    def _vault_auth_is_complete(self) -> Settings:
        if not self.vault_addr:
            raise SettingsError("VAULT_ADDR must not be empty")
        if self.vault_role_id and not self.vault_secret_id.get_secret_value():
            raise SettingsError("VAULT_ROLE_ID is set but VAULT_SECRET_ID is not (AppRole needs both)")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Every variable read from `env` (default os.environ) and checked; SettingsError names the first bad one."""
        env = os.environ if env is None else env
        try:
            settings = cls(_build_sources=((Environment(cls, env),), {}))
        except ValidationError as invalid:
            raise SettingsError(first_problem(invalid)) from None
        if not settings.database_url.get_secret_value():
            settings = settings.model_copy(update={"database_url": SecretStr(parse.default_database_url(env))})
        return settings

    @property
    def vault_auth_method(self) -> str:
        """token, approle or kubernetes: the first one configured, in that order."""
        if self.vault_token.get_secret_value():
            return "token"
        if self.vault_role_id:
            return "approle"
        if self.vault_k8s_role:
            return "kubernetes"
        return "none"


def variables() -> Iterator[Variable]:
    """Every setting's variable, in the order of the README's table."""
    return variables_of(Settings)


def variable(name: str) -> Variable:
    """The setting read from the environment variable `name`."""
    return next(known for known in variables() if known.name == name)
