"""What a simulated key's `scope` option means at request time: its IP allowlist and its expiry."""

from __future__ import annotations

from datetime import datetime, timezone

from credential_health.sandbox.keys import SimKey


def expires_at(key: SimKey) -> datetime | None:
    """The key's expiry as an aware UTC datetime, or None when it never expires."""
    raw = key.scope.get("expires_at")
    if not raw:
        return None
    parsed = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def expired(key: SimKey, now: datetime | None = None) -> bool:
    """Whether the key's expiry has passed."""
    at = expires_at(key)
    return at is not None and at <= (now or datetime.now(timezone.utc))


def ip_allowlist(key: SimKey) -> list[str]:
    """The addresses the key is bound to ([] = any address)."""
    return list(key.scope.get("ip_allowlist") or [])


def ip_allowed(key: SimKey, remote: str | None) -> bool:
    """Whether a request from `remote` may use the key."""
    allowlist = ip_allowlist(key)
    return not allowlist or (remote or "") in allowlist


def can(key: SimKey, permission: str) -> bool:
    """One of the scope's permission flags: withdraw, trade or transfer (trade-only by default)."""
    return bool(key.scope.get(permission, permission == "trade"))
