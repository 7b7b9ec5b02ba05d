"""Asset checks: results cover the inventory, no secret material is stored, the rollup is consistent."""

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import unquote_plus

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    asset_check,
)
from sqlalchemy import and_, func, or_, select

from credential_health.models import CredentialRef, Source
from credential_health.partitions import window_for_key
from credential_health.resources import ResultsDatabase
from credential_health.secret_digests import SecretDigests
from credential_health.storage import results
from credential_health.storage.schema import credential_health_checks, credential_status

RESULTS = "credential_validation_results"
ROLLUP = "credential_failure_rollup"
NO_SECRET_MATERIAL = "no_secret_material"
SAMPLE = 10
KEY_NAMES = ("tenant_id", "exchange", "credential_type")

# Evaluated inside the results step (it alone has the digests of the secrets read in the run); blocking, so a
# leak stops the rollup, and with it any webhook that could quote a stored message.
no_secret_material_spec = AssetCheckSpec(
    NO_SECRET_MATERIAL,
    asset=RESULTS,
    blocking=True,
    description="No stored text of the window holds a secret read in the run, or anything shaped like a key.",
)

# Key-shaped strings in free text, whatever their origin (the validator's redaction masks these shapes).
_KEY_SHAPED = (re.compile(r"\b[0-9a-fA-F]{32,}\b"), re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}"))
_FREE_TEXT = {"error_message"}


def secret_findings(values: Iterable[tuple[str, str]], digests: SecretDigests) -> Counter[str]:
    """Counts of suspicious stored values per column and kind; never the values themselves."""
    findings: Counter[str] = Counter()
    for column, text in values:
        for variant in {text, unquote_plus(text)}:
            if digests.leaked_tokens(variant):
                findings[f"{column}: secret value"] += 1
                break
            if column in _FREE_TEXT and any(p.search(variant) for p in _KEY_SHAPED):
                findings[f"{column}: key-shaped string"] += 1
                break
    return findings


def row_findings(row: dict, digests: SecretDigests) -> Counter[str]:
    """secret_findings() of one check row's text columns."""
    return secret_findings(((c, row[c]) for c in results.TEXT_COLUMNS if row.get(c)), digests)


def credential_label(key: tuple[str, str, str], flagged: set[str]) -> str:
    """tenant/exchange/type naming a credential, with any part that was itself flagged shown as its column
    name (so the label never repeats a flagged value) and long parts shortened."""
    parts = [
        f"<{name}>" if name in flagged else (value if len(value) <= 40 else value[:40] + "…")
        for name, value in zip(KEY_NAMES, key, strict=True)
    ]
    return "/".join(parts)


def window_findings(
    results_db: ResultsDatabase, window_start: datetime, digests: SecretDigests
) -> tuple[Counter[str], list[str]]:
    """Findings in every stored row of the window, and the credentials whose rows they are in."""
    columns = [credential_health_checks.c[name] for name in results.TEXT_COLUMNS]
    query = select(*results.KEY_COLUMNS, *columns).where(credential_health_checks.c.window_start == window_start)
    findings: Counter[str] = Counter()
    flagged: set[str] = set()
    with results_db.engine.connect() as connection:
        for row in connection.execute(query):
            found = row_findings(dict(zip(results.TEXT_COLUMNS, row[3:], strict=True)), digests)
            if found:
                findings += found
                flagged.add(credential_label(tuple(row[:3]), {k.split(":")[0] for k in found}))
    return findings, sorted(flagged)


def no_secret_material_result(
    results_db: ResultsDatabase, window_start: datetime, digests: SecretDigests
) -> AssetCheckResult:
    findings, flagged = window_findings(results_db, window_start, digests)
    return AssetCheckResult(
        check_name=NO_SECRET_MATERIAL,
        asset_key=RESULTS,
        passed=not findings,
        metadata={
            "suspicious_values": sum(findings.values()),
            "secrets_read": len(digests),
            "findings": dict(findings),
            "flagged_credentials": len(flagged),
            "flagged_sample": flagged[:SAMPLE],
        },
    )


def _window_start(context: AssetCheckExecutionContext, results_db: ResultsDatabase) -> datetime | None:
    """The run's window; a check run on its own looks at the newest window with results."""
    if context.has_partition_key:
        return window_for_key(context.partition_key).start
    scheduled = credential_health_checks.c.source == Source.SCHEDULED.value
    with results_db.engine.connect() as connection:
        return connection.execute(select(func.max(credential_health_checks.c.window_start)).where(scheduled)).scalar()


@asset_check(
    asset=RESULTS,
    additional_ins={"credential_inventory": AssetIn("credential_inventory")},
    description="Every inventoried credential has a result in the window.",
)
def results_cover_inventory(
    context: AssetCheckExecutionContext, credential_inventory: list[CredentialRef], results_db: ResultsDatabase
) -> AssetCheckResult:
    window_start = _window_start(context, results_db)
    if window_start is None:
        return AssetCheckResult(passed=False, metadata={"reason": "no window has results yet"})
    with results_db.engine.connect() as connection:
        stored = results.window_keys(connection, window_start)
    missing = sorted({ref.key for ref in credential_inventory} - stored)
    return AssetCheckResult(
        passed=not missing,
        metadata={
            "window_start": window_start.isoformat(),
            "inventoried": len(credential_inventory),
            "with_result": len(stored),
            "missing": len(missing),
            "missing_sample": ["/".join(key) for key in missing[:SAMPLE]],
        },
    )


@asset_check(asset=ROLLUP, description="Streak never exceeds windows seen; removed credentials carry no streak.")
def rollup_consistent(results_db: ResultsDatabase) -> AssetCheckResult:
    s = credential_status.c
    problems = {
        "streak_over_windows_seen": s.consecutive_failures > s.windows_seen,
        "negative_streak": s.consecutive_failures < 0,
        "removed_with_streak": and_(
            s.present_in_inventory.is_(False), or_(s.consecutive_failures > 0, s.failing_since.is_not(None))
        ),
        "streak_without_failing_since": and_(s.consecutive_failures > 0, s.failing_since.is_(None)),
        "failing_since_without_streak": and_(s.consecutive_failures == 0, s.failing_since.is_not(None)),
    }
    query = select(func.count(), *(func.count().filter(condition) for condition in problems.values()))
    with results_db.engine.connect() as connection:
        total, *counts = connection.execute(query).one()
    found = dict(zip(problems, counts, strict=True))
    return AssetCheckResult(
        passed=not any(counts),
        severity=AssetCheckSeverity.ERROR,
        metadata={"credentials": total, **found},
    )


CHECKS = [results_cover_inventory, rollup_consistent]
