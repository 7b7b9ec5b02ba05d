"""Coinbase: GET /api/v3/brokerage/key_permissions (Advanced Trade "Get API Key Permissions") -> ScopeRecord.

https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/data-api/get-api-key-permissions
answers {"can_view", "can_trade", "can_transfer", "portfolio_uuid", "portfolio_type"}: no IP list, no expiry.
"""

from __future__ import annotations

from datetime import datetime

from credential_health.scopes.record import ScopeRecord

METHOD = "v3_private_get_brokerage_key_permissions"
PARAMS: dict = {}


def _flag(answer: dict, name: str) -> bool | None:
    value = answer.get(name)
    return value if isinstance(value, bool) else None


def normalise(answer: dict, now: datetime) -> ScopeRecord:
    """The key's trade/transfer flags; where from and until when are not reported (None)."""
    can_transfer = _flag(answer, "can_transfer")
    return ScopeRecord(
        can_trade=_flag(answer, "can_trade"),
        # Coinbase has no separate withdraw permission: "Transfer: Enables your application to send and receive
        # funds, on and off platform" (https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/
        # authorization), so moving funds off Coinbase is exactly what can_transfer grants.
        can_withdraw=can_transfer,
        can_transfer=can_transfer,
        # CDP keys may carry an IP allowlist, but this endpoint does not report it; nor an expiry.
        ip_restricted=None,
        ip_allowlist=None,
        expires_at=None,
    )
