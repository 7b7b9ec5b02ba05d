"""The audit trail: one JSON line per check and per webhook delivery attempt, through Dagster's logger.

Only identifiers, outcomes and timings: never a key, secret, signature or token.
"""

from __future__ import annotations

import json

from credential_health.models import CheckResult


def audit(log, kind: str, **fields) -> None:
    """Write one audit record as a single JSON line (`log` is a logging.Logger or Dagster's context.log)."""
    log.info(json.dumps({"audit": kind, **fields}, sort_keys=True, default=str))


def audit_check(log, check: CheckResult, run_id: str | None, source: str) -> None:
    ref = check.ref
    audit(log, "credential_check", tenant_id=ref.tenant_id, exchange=ref.exchange, credential_type=ref.credential_type,
          status=check.status.value, error_code=check.error_code, duration_ms=check.duration_ms,
          attempts=check.attempts, source=source, run_id=run_id)
