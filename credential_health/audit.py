"""The audit trail: one JSON line per check and per webhook delivery attempt, on the `credential_health.audit` logger.

The lines go to a stream or file the platform ships (`CREDENTIAL_HEALTH_AUDIT_LOG`), not to Dagster's event
log: one event-log record per check would cost as much as the check itself. Only identifiers, outcomes and
timings: never a key, secret, signature or token.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import datetime, timezone

from credential_health.models import CheckResult
from credential_health.setting_parsers import audit_log_destination

AUDIT_LOG_VARIABLE = "CREDENTIAL_HEALTH_AUDIT_LOG"
LOGGER_NAME = "credential_health.audit"

_lock = threading.Lock()
_configured: tuple[str, logging.Handler | None] | None = None


def audit_destination(raw: str | None = None) -> str:
    """`stderr` (the default), `off`, or a file path, from the setting's raw text."""
    value = os.environ.get(AUDIT_LOG_VARIABLE, "") if raw is None else raw
    return audit_log_destination(AUDIT_LOG_VARIABLE, value)


def audit_logger() -> logging.Logger:
    """The audit logger, its handler following the setting (re-read on each call: runs may change it)."""
    global _configured
    destination = audit_destination()
    logger = logging.getLogger(LOGGER_NAME)
    if _configured is not None and _configured[0] == destination:
        return logger
    with _lock:
        if _configured is not None and _configured[0] == destination:
            return logger
        if _configured is not None and _configured[1] is not None:
            logger.removeHandler(_configured[1])
            _configured[1].close()
        handler: logging.Handler | None = None
        if destination == "stderr":
            handler = logging.StreamHandler(sys.stderr)
        elif destination != "off":
            handler = logging.FileHandler(destination, encoding="utf-8")  # appends; rotation is the shipper's
        if handler is not None:
            handler.setFormatter(logging.Formatter("%(message)s"))  # the message is the whole JSON line
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.disabled = destination == "off"
        logger.propagate = False  # never into Dagster's captured logs or the root handlers twice
        _configured = (destination, handler)
    return logger


def audit(kind: str, **fields) -> None:
    """Write one audit record as a single JSON line, stamped with the time it was written (UTC)."""
    logger = audit_logger()
    if logger.disabled:
        return
    record = {"audit": kind, "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **fields}
    logger.info(json.dumps(record, sort_keys=True, default=str))


def audit_check(check: CheckResult, run_id: str | None, source: str) -> None:
    ref = check.ref
    audit(
        "credential_check",
        tenant_id=ref.tenant_id,
        exchange=ref.exchange,
        credential_type=ref.credential_type,
        status=check.status.value,
        error_code=check.error_code,
        duration_ms=check.duration_ms,
        attempts=check.attempts,
        source=source,
        run_id=run_id,
        **({"scope_error": check.scope_error} if check.scope_error else {}),
    )  # a valid check's failed scope probe
