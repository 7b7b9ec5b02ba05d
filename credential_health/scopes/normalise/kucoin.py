"""KuCoin: GET /api/v1/user/api-key ("Get API Key Info") -> ScopeRecord.

https://www.kucoin.com/docs-new/rest/account-info/account-funding/get-apikey-info answers
{"code": "200000", "data": {"permission": "General,Spot,...", "ipWhitelist": "1.2.3.4,..." or "", ...}}; it
reports no expiry.
"""

from __future__ import annotations

from datetime import datetime

from credential_health.scopes.record import ScopeRecord

METHOD = "private_get_user_api_key"
PARAMS: dict = {}
# KuCoin's permission names (e.g. "General,Futures,Unified,Spot,Earn,InnerTransfer,Margin,LeadtradeFutures"):
# trading on Spot, Margin, Futures, the unified account, lead trading or leveraged tokens; InnerTransfer between
# one's own accounts; Withdrawal to outside KuCoin (older keys list it as "Withdraw"). General is read-only.
TRADE = frozenset({"spot", "margin", "futures", "unified", "leadtradefutures", "leveragetoken"})
TRANSFER = frozenset({"innertransfer", "transfer"})
WITHDRAW = frozenset({"withdrawal", "withdraw"})


def _split(value: object) -> tuple[str, ...] | None:
    """A comma-separated KuCoin list as a tuple (None when the field is absent or not a string)."""
    if not isinstance(value, str):
        return None
    return tuple(item.strip() for item in value.split(",") if item.strip())


def normalise(answer: dict, now: datetime) -> ScopeRecord:
    """Permissions from `permission`, the allowlist from `ipWhitelist`; no expiry is reported (None)."""
    data = answer["data"] if isinstance(answer.get("data"), dict) else answer
    permissions = _split(data.get("permission"))
    granted = {name.lower() for name in permissions} if permissions is not None else None
    allowlist = _split(data.get("ipWhitelist")) if "ipWhitelist" in data else None
    if "ipWhitelist" in data and data["ipWhitelist"] is None:
        allowlist = ()  # an explicit null: no whitelist set
    return ScopeRecord(
        can_trade=bool(granted & TRADE) if granted is not None else None,
        can_withdraw=bool(granted & WITHDRAW) if granted is not None else None,
        can_transfer=bool(granted & TRANSFER) if granted is not None else None,
        ip_restricted=bool(allowlist) if allowlist is not None else None,
        ip_allowlist=allowlist,
        expires_at=None,
    )
