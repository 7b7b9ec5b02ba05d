"""What a shard step and the finishing step do; only a ShardSummary passes between them."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dagster import OpExecutionContext
from sqlalchemy import select, tuple_

from credential_health.assets.metadata import results_metadata, scope_risk_metadata
from credential_health.audit import audit_check
from credential_health.checks import (
    SAMPLE,
    credential_label,
    no_secret_material_result,
    row_findings,
)
from credential_health.models import CheckResult, CredentialRef, MalformedSecret, SecretUnavailable
from credential_health.partitions import require_closed_window
from credential_health.resources import CredentialValidator, ResultsDatabase, VaultCredentialSource
from credential_health.secret_digests import SecretDigests
from credential_health.step_errors import step_failure
from credential_health.storage import results
from credential_health.storage.schema import credential_health_checks
from credential_health.validation import guard


@dataclass(frozen=True)
class ShardSummary:
    """A shard's counts and findings: no rows, no secrets, no digests."""

    checked: int
    resumed: int
    refused: int
    refused_sample: list[str] = field(default_factory=list)
    secrets_read: int = 0
    findings: dict[str, int] = field(default_factory=dict)  # secret values found in the shard's rows, by kind
    flagged_sample: list[str] = field(default_factory=list)


def validate_shard(
    context: OpExecutionContext,
    refs: list[CredentialRef],
    credentials: VaultCredentialSource,
    validator: CredentialValidator,
    results_db: ResultsDatabase,
) -> ShardSummary:
    """Validate the shard's credentials without a stored row of this run, store each as it finishes."""
    window = require_closed_window(context.partition_key)
    run_id = context.run.run_id
    digests = SecretDigests()
    fetch_secret = credentials.recorded(digests.add)

    try:
        # A retry of this step (same run, or a Celery task given back by a lost worker) keeps what earlier
        # attempts stored and checks only the rest.
        resumed = results_db.run_checks(window.start, run_id, [ref.key for ref in refs])
        done = {check.ref.key for check in resumed}
        remember_secrets([ref for ref in refs if ref.key in done], fetch_secret)
        writer = results_db.window_writer(window.start, run_id)

        def on_result(check: CheckResult) -> None:
            audit_check(check, run_id, "scheduled")
            writer.add(check)

        fresh = validator.validate(
            [ref for ref in refs if ref.key not in done], credentials.secret_reads(digests.add), on_result
        )
        writer.flush()
    except Exception as exc:  # noqa: BLE001 - sorted into retried and final failures, with redacted text only
        raise step_failure(exc, digests) from None
    # The secret scan needs this shard's digests, so it runs here: every stored row of the window (any source)
    # of the shard's credentials.
    findings, flagged = shard_findings(results_db, window.start, [ref.key for ref in refs], digests)
    refused = [credential_label((r["tenant_id"], r["exchange"], r["credential_type"]), set()) for r in writer.refused]
    if refused:
        context.log.warning(
            f"the database refused {len(refused)} rows (a name too long for its column?): {refused[:10]}"
        )
    return ShardSummary(
        len(fresh), len(resumed), len(refused), refused[:SAMPLE], len(digests), dict(findings), sorted(flagged)[:SAMPLE]
    )


def shard_findings(results_db: ResultsDatabase, window_start, keys: list, digests: SecretDigests):
    """Suspicious stored values in the window's rows of these credentials, and the credentials they are in."""
    columns = [credential_health_checks.c[name] for name in results.TEXT_COLUMNS]
    in_window = credential_health_checks.c.window_start == window_start
    findings: Counter[str] = Counter()
    flagged: set[str] = set()
    wanted = sorted(keys)
    with results_db.engine.connect() as connection:
        for i in range(0, len(wanted), results.IN_CHUNK):
            query = select(*results.KEY_COLUMNS, *columns).where(
                in_window, tuple_(*results.KEY_COLUMNS).in_(wanted[i : i + results.IN_CHUNK])
            )
            for row in connection.execute(query):
                found = row_findings(dict(zip(results.TEXT_COLUMNS, row[3:], strict=True)), digests)
                if found:
                    findings += found
                    flagged.add(credential_label(tuple(row[:3]), {k.split(":")[0] for k in found}))
    return findings, flagged


def finish_window(
    context: OpExecutionContext,
    inventory: list[CredentialRef],
    summaries: list[ShardSummary],
    results_db: ResultsDatabase,
) -> tuple[dict, list]:
    """The exchange-wide guard over the whole window's stored rows, removed credentials dropped, metadata and
    the two blocking checks, from the database and the shards' summaries."""
    window = require_closed_window(context.partition_key)
    wanted = {ref.key for ref in inventory}
    settings = results_db.settings
    try:
        dropped = results_db.drop_absent(window.start, wanted)
        checks = [c for c in results_db.run_checks(window.start, None) if c.ref.key in wanted]
        with results_db.engine.connect() as connection:
            valid_before = guard.previously_valid(connection, window.start)
        guarded, trips = guard.hold_exchange_wide_failures(
            checks, valid_before, settings.exchange_wide_share, settings.exchange_wide_min_credentials
        )
        writer = results_db.window_writer(window.start, context.run.run_id)
        writer.write([new for old, new in zip(checks, guarded, strict=True) if new is not old])
        # Key-shaped strings in any stored row of the window; secret values were looked for by each shard.
        secret_check = no_secret_material_result(results_db, window.start, SecretDigests())
    except Exception as exc:  # noqa: BLE001 - sorted into retried and final failures, with redacted text only
        raise step_failure(exc) from None
    for trip in trips:
        context.log.error(f"exchange-wide failure held, no key is blamed: {trip.describe()}")
    resumed = sum(s.resumed for s in summaries)
    refused = sum(s.refused for s in summaries)
    context.log.info(
        f"window {context.partition_key}: {sum(s.checked for s in summaries)} checked in "
        f"{len(summaries)} shards, {resumed} kept from an earlier attempt, {refused} refused, "
        f"{dropped} rows of removed credentials dropped"
    )
    metadata = {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        **results_metadata(guarded),
        **scope_risk_metadata(results_db.engine, window.start),
        "resumed": resumed,
        "refused_rows": refused,
        "shards": len(summaries),
    }
    return metadata, [
        merge_secret_check(secret_check, summaries),
        guard.guard_result(trips, settings.exchange_wide_share, settings.exchange_wide_min_credentials),
    ]


def merge_secret_check(window_check, summaries: list[ShardSummary]):
    """The window's key-shaped findings plus the secret values each shard found in its own rows."""
    meta = {k: v.value for k, v in window_check.metadata.items()}
    findings = Counter(meta["findings"]) + sum((Counter(s.findings) for s in summaries), Counter())
    flagged = sorted(set(meta["flagged_sample"]).union(*(s.flagged_sample for s in summaries)))
    return window_check._replace(
        passed=not findings,
        metadata={
            "suspicious_values": sum(findings.values()),
            "secrets_read": sum(s.secrets_read for s in summaries),
            "findings": dict(findings),
            "flagged_credentials": max(meta["flagged_credentials"], len(flagged)),
            "flagged_sample": flagged[:SAMPLE],
        },
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
