"""`credential_validation_results`: one check per inventoried credential per window, stored idempotently."""


import math
from collections import Counter

from dagster import (
    AssetExecutionContext,
    Backoff,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)
from sqlalchemy.exc import DBAPIError

from credential_health.assets.metadata import unknown_metadata, worst_tenants_markdown
from credential_health.audit import audit_check
from credential_health.checks import no_secret_material_result, no_secret_material_spec
from credential_health.models import CheckResult, CredentialRef, ExchangeSecret, Status
from credential_health.partitions import as_utc, check_windows
from credential_health.resources import CredentialSource, CredentialValidator, ResultsDatabase, SecretDigests
from credential_health.vault.errors import VaultError

GROUP = "credential_health"

# Vault or the database failing is worth another try of the whole window; credential failures never raise.
INFRASTRUCTURE_RETRY = RetryPolicy(max_retries=3, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
INFRASTRUCTURE_ERRORS = (VaultError, DBAPIError, ConnectionError, TimeoutError)


def percentile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def results_metadata(checks: list[CheckResult]) -> dict:
    """Numeric per-window figures for the UI's plots, and the tenants with the most failures."""
    total = len(checks)
    statuses = Counter(c.status for c in checks)
    durations = sorted(c.duration_ms for c in checks)
    return {
        "total": total,
        "valid": statuses[Status.VALID],
        "invalid": statuses[Status.INVALID],
        "unknown": statuses[Status.UNKNOWN],
        "failure_rate": round(statuses[Status.INVALID] / total, 4) if total else 0.0,
        "unknown_rate": round(statuses[Status.UNKNOWN] / total, 4) if total else 0.0,
        "p50_duration_ms": percentile(durations, 0.50),
        "p95_duration_ms": percentile(durations, 0.95),
        "error_codes": MetadataValue.json(dict(sorted(Counter(c.error_code for c in checks).items()))),
        "worst_tenants": MetadataValue.md(worst_tenants_markdown(checks)),
        **unknown_metadata(checks),
    }


def step_failure(exc: Exception) -> Exception:
    """Infrastructure errors propagate (and are retried); anything else fails the step without retries."""
    if isinstance(exc, INFRASTRUCTURE_ERRORS):
        return exc
    from credential_health.validation.redact import redact  # lazy: the package imports ccxt

    # redact(): an unexpected exception's text is not trusted to be free of key-shaped values.
    return Failure(description=f"validation step failed: {type(exc).__name__}: {redact(exc)}", allow_retries=False)


@asset(
    partitions_def=check_windows,
    group_name=GROUP,
    kinds={"ccxt", "sql"},
    retry_policy=INFRASTRUCTURE_RETRY,
    check_specs=[no_secret_material_spec],
)
def credential_validation_results(
    context: AssetExecutionContext,
    credential_inventory: list[CredentialRef],
    credentials: CredentialSource,
    validator: CredentialValidator,
    results_db: ResultsDatabase,
) -> MaterializeResult:
    """One exchange check per inventoried credential for the window, rows in credential_health_checks."""
    window = context.partition_time_window
    window_start = as_utc(window.start)
    digests = SecretDigests()

    def fetch_secret(ref: CredentialRef) -> ExchangeSecret:
        secret = credentials.read(ref)
        digests.add(secret)
        return secret

    try:
        checks = validator.validate(credential_inventory, fetch_secret,
                                    lambda check: audit_check(context.log, check, context.run.run_id, "scheduled"))
        written = results_db.replace_window(window_start, checks, context.run.run_id)
    except Exception as exc:  # noqa: BLE001 - sorted into retried and final failures
        failure = step_failure(exc)
        if failure is exc:
            raise
        raise failure from exc
    context.log.info(f"window {context.partition_key}: wrote {written} checks")
    return MaterializeResult(
        metadata={
            "window_start": window_start.isoformat(),
            "window_end": as_utc(window.end).isoformat(),
            **results_metadata(checks),
        },
        check_results=[no_secret_material_result(results_db, window_start, digests)],
    )
