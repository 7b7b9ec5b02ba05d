"""What a simulated key's `scope` option means at request time: its IP allowlist, its expiry and its answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from aiohttp import web

from credential_health.sandbox.keys import STATE, SimKey


def expires_at(key: SimKey) -> datetime | None:
    """The key's expiry (DEFAULT_SCOPE: Unix seconds) as an aware UTC datetime, or None when it never expires."""
    raw = key.scope_of("expires_at")
    return None if raw is None else datetime.fromtimestamp(raw, timezone.utc)


def expired(key: SimKey, now: datetime | None = None) -> bool:
    """Whether the key's expiry has passed."""
    at = expires_at(key)
    return at is not None and at <= (now or datetime.now(timezone.utc))


def ip_allowlist(key: SimKey) -> list[str]:
    """The addresses the key is bound to ([] = any address)."""
    return list(key.scope_of("ip_allowlist") or [])


def ip_allowed(key: SimKey, remote: str | None) -> bool:
    """Whether a request from `remote` may use the key."""
    allowlist = ip_allowlist(key)
    return not allowlist or (remote or "") in allowlist


def can(key: SimKey, permission: str) -> bool:
    """One of the scope's permission flags: withdraw, trade or transfer (trade-only by default)."""
    return bool(key.scope_of(permission))


def scenario(key: SimKey, scoped: bool) -> str:
    """Count one signed call and name its behaviour; the key-information endpoint (`scoped`) of a key whose own
    behaviour is valid answers as the scope's `answer` says (a failure of that call alone, or "malformed")."""
    name = key.next_scenario()
    return key.scope_of("answer") if scoped and name == "valid" else name


async def admit(
    request: web.Request, exchange: str, prefix: str, api_key: str, refuse: Callable[[str], web.Response | None]
) -> tuple[web.Response | None, SimKey | None]:
    """What every exchange does first with a signed request: log it, charge the IP budget one unit, find the key
    and wait its latency. Returns `refuse(verdict)` when over the budget (else None) and the key (None: unknown)."""
    state = request.app[STATE]
    if api_key:
        state.record(exchange, api_key, request.path[len(prefix) :])
    verdict, _, _ = state.charge(exchange, request.remote or "", 1)
    key = state.key(exchange, api_key)
    await state.pause(key)
    return (None if verdict == "ok" else refuse(verdict)), key
