"""`credential_validation_results`: one check per inventoried credential per window, stored idempotently."""


import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from dagster import (
    AssetExecutionContext,
    Backoff,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

from credential_health.assets.metadata import scope_risk_metadata, unknown_metadata, worst_tenants_markdown
from credential_health.audit import audit_check
from credential_health.checks import credential_label, no_secret_material_result, no_secret_material_spec
from credential_health.models import (
    CheckResult, CredentialRef, ExchangeSecret, MalformedSecret, SecretUnavailable, Status,
)
from credential_health.partitions import check_windows, require_closed_window
from credential_health.resources import CredentialSource, CredentialValidator, ResultsDatabase, SecretDigests
from credential_health.settings import Settings
from credential_health.step_errors import step_failure
from credential_health.validation import guard

GROUP = "credential_health"

# Vault or the database connection failing is worth another try (of what is not stored yet); credential
# failures never raise; a deterministic error is a Failure without retries (credential_health.step_errors).
INFRASTRUCTURE_RETRY = RetryPolicy(max_retries=3, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


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


@asset(
    partitions_def=check_windows,
    group_name=GROUP,
    kinds={"ccxt", "sql"},
    retry_policy=INFRASTRUCTURE_RETRY,
    check_specs=[no_secret_material_spec, guard.exchange_wide_guard_spec],
)
def credential_validation_results(
    context: AssetExecutionContext,
    credential_inventory: list[CredentialRef],
    credentials: CredentialSource,
    validator: CredentialValidator,
    results_db: ResultsDatabase,
) -> MaterializeResult:
    """One exchange check per inventoried credential for the window, rows in credential_health_checks."""
    window = require_closed_window(context.partition_key)  # before any exchange call or row
    run_id = context.run.run_id
    digests = SecretDigests()

    def fetch_secret(ref: CredentialRef) -> ExchangeSecret:
        secret = credentials.read(ref)
        digests.add(secret)
        return secret

    try:  # an unreachable or misconfigured database fails the run before any exchange call
        results_db.reach()
    except Exception as exc:  # noqa: BLE001 - sorted into retried and final failures, with redacted text only
        raise step_failure(exc, what="results database setup") from None
    try:
        # A retry of this step (same run) keeps what earlier attempts stored and checks only the rest.
        resumed = results_db.run_checks(window.start, run_id)
        done = {check.ref.key for check in resumed}
        remember_secrets([ref for ref in credential_inventory if ref.key in done], fetch_secret)
        writer = results_db.window_writer(window.start, run_id)

        def on_result(check: CheckResult) -> None:
            audit_check(check, run_id, "scheduled")
            writer.add(check)

        fresh = validator.validate([ref for ref in credential_inventory if ref.key not in done],
                                   credentials.secret_reads(digests.add), on_result)
        writer.flush()
        checks = resumed + fresh
        # The exchange-wide guard needs the whole window: it rewrites the rows it holds.
        settings = Settings.from_env()
        with results_db.engine.connect() as connection:
            valid_before = guard.previously_valid(connection, window.start)
        guarded, trips = guard.hold_exchange_wide_failures(checks, valid_before, settings.exchange_wide_share,
                                                           settings.exchange_wide_min_credentials)
        writer.write([new for old, new in zip(checks, guarded) if new is not old])
        checks = guarded
        dropped = results_db.drop_absent(window.start, {ref.key for ref in credential_inventory})
    except Exception as exc:  # noqa: BLE001 - sorted into retried and final failures, with redacted text only
        raise step_failure(exc, digests) from None
    refused = [credential_label((r["tenant_id"], r["exchange"], r["credential_type"]), set()) for r in writer.refused]
    if refused:
        context.log.warning(f"the database refused {len(refused)} rows (a name too long for its column?): "
                            f"{refused[:10]}")
    for trip in trips:
        context.log.error(f"exchange-wide failure held, no key is blamed: {trip.describe()}")
    context.log.info(f"window {context.partition_key}: {len(fresh)} checked, {len(resumed)} kept from an "
                     f"earlier attempt, {len(refused)} refused, {dropped} rows of removed credentials dropped")
    return MaterializeResult(
        metadata={
            "window_start": window.start.isoformat(),
            "window_end": window.end.isoformat(),
            **results_metadata(checks),
            "resumed": len(resumed),
            "refused_rows": len(refused),
            **scope_risk_metadata(results_db.engine, window.start),
        },
        check_results=[no_secret_material_result(results_db, window.start, digests),
                       guard.guard_result(trips, settings.exchange_wide_share, settings.exchange_wide_min_credentials)],
    )


def remember_secrets(refs: list[CredentialRef], fetch_secret) -> None:
    """Read the secrets of credentials an earlier attempt checked, so the secret scan knows them too."""

    def read(ref: CredentialRef) -> None:
        try:
            fetch_secret(ref)
        except (MalformedSecret, SecretUnavailable):
            pass

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(read, refs))
