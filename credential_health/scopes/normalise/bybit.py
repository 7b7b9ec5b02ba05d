"""Bybit: GET /v5/user/query-api ("Get API Key Information", any permission, ccxt cost 5).

Fields from https://bybit-exchange.github.io/docs/v5/user/apikey-info: `readOnly` 1 for a read-only key, 0 for
read and write; `permissions` maps groups to granted names (Wallet: AccountTransfer, SubMemberTransfer,
SubMemberTransferList, Withdraw; Spot: SpotTrade; ContractTrade: Order, Position; Derivatives: DerivativesTrade;
Options: OptionsTrade); `ips` the bound addresses, ["*"] when any address may use the key; `expiredAt` the key's
expiry, set only for keys without a bound IP (keys that never expire report 1970-01-01T00:00:00Z and a negative
`deadlineDay`).
"""

from __future__ import annotations

from datetime import datetime, timezone

from credential_health.scopes.record import ScopeRecord

METHOD = "private_get_v5_user_query_api"
PARAMS: dict = {}

TRADE = {
    "Spot": ("SpotTrade",),
    "ContractTrade": ("Order", "Position"),
    "Derivatives": ("DerivativesTrade",),
    "Options": ("OptionsTrade",),
}
WITHDRAW = ("Withdraw",)
TRANSFER = ("AccountTransfer", "SubMemberTransfer", "SubMemberTransferList")
ANY_ADDRESS = "*"
NEVER = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _result(answer: object) -> dict:
    if not isinstance(answer, dict) or answer.get("retCode") != 0 or not isinstance(answer.get("result"), dict):
        raise ValueError("not a Bybit success answer")
    return answer["result"]


def _granted(permissions: dict, group: str) -> tuple[str, ...]:
    value = permissions.get(group, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"permissions.{group} is not a list of strings")
    return tuple(value)


def _expiry(result: dict) -> datetime | None:
    raw = result.get("expiredAt")
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise ValueError("expiredAt is not a date")
    at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return None if at <= NEVER else at.astimezone(timezone.utc)


def normalise(answer: dict, now: datetime) -> ScopeRecord:
    """The record of one query-api answer (egress_allowlisted is the probe's to fill)."""
    result = _result(answer)
    read_only, permissions, ips = result.get("readOnly"), result.get("permissions"), result.get("ips")
    if read_only not in (0, 1) or isinstance(read_only, bool) or not isinstance(permissions, dict):
        raise ValueError("readOnly or permissions missing")
    if not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
        raise ValueError("ips is not a list of strings")
    writable = read_only == 0  # a read-only key can neither trade nor move funds, whatever the groups list
    trade = any(name in _granted(permissions, group) for group, names in TRADE.items() for name in names)
    wallet = _granted(permissions, "Wallet")
    allowlist = tuple(ip for ip in ips if ip != ANY_ADDRESS)
    unrestricted = ANY_ADDRESS in ips or not ips
    return ScopeRecord(
        can_trade=writable and trade,
        can_withdraw=writable and any(name in wallet for name in WITHDRAW),
        can_transfer=writable and any(name in wallet for name in TRANSFER),
        ip_restricted=not unrestricted,
        ip_allowlist=() if unrestricted else allowlist,
        expires_at=_expiry(result),
    )
