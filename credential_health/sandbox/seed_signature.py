"""Receiver-side check of the seed-style `X-Credential-Health-Signature` header (the sandbox receiver's only)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from credential_health.notify.signing import secret_key


def verify_seed_signature(
    body: bytes,
    timestamp: str | int,
    signature: str,
    secrets: Sequence[str],
    *,
    tolerance_seconds: float | None = 300,
    now: float | None = None,
) -> bool:
    """True when `signature` (`sha256=<hex>`) matches any of `secrets` and the timestamp is within tolerance."""
    try:
        ts = int(str(timestamp))
    except ValueError:
        return False
    if tolerance_seconds is not None:
        current = time.time() if now is None else now
        if abs(current - ts) > tolerance_seconds:
            return False
    scheme, _, given = signature.partition("=")
    if scheme != "sha256" or not given:
        return False
    for secret in secrets:
        expected = hmac.new(secret_key(secret), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, given.strip().lower()):
            return True
    return False
