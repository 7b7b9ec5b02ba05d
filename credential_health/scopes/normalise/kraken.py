"""Kraken: POST /0/private/GetApiKeyInfo (needs no key permission).

Fields from https://docs.kraken.com/api-reference/account-data/get-api-key-info: `permissions` is a list of names
("query-funds", "withdraw-funds", "modify-trades", ...), `ipAllowlist` a list of addresses or CIDR blocks (empty: no
restriction), `validUntil` a Unix time in seconds as a string, "0" when the key never expires.
"""

from __future__ import annotations

from datetime import datetime

from credential_health.scopes.normalise.fields import BadScopeAnswer, epoch, mapping, strings
from credential_health.scopes.record import ScopeRecord

METHOD = "private_post_getapikeyinfo"
PARAMS: dict = {}

TRADE = "modify-trades"  # "Create & Modify Orders"
# "Withdraw Funds"; Kraken's transfers between accounts (AccountTransfer, WalletTransfer) require the same one
# (https://docs.kraken.com/api-reference/subaccounts/account-transfer), so it answers both questions.
WITHDRAW = "withdraw-funds"


def normalise(answer: dict, now: datetime) -> ScopeRecord:
    """The record of one GetApiKeyInfo answer (ccxt returns the whole {"error", "result"} body)."""
    result = mapping(mapping(answer).get("result"))
    permissions = strings(result.get("permissions"), "permissions")
    if permissions is None:
        raise BadScopeAnswer("permissions missing")
    allowlist = strings(result.get("ipAllowlist"), "ipAllowlist")
    valid_until = result.get("validUntil")
    return ScopeRecord(
        can_trade=TRADE in permissions,
        can_withdraw=WITHDRAW in permissions,
        can_transfer=WITHDRAW in permissions,
        ip_restricted=None if allowlist is None else bool(allowlist),
        ip_allowlist=allowlist,
        expires_at=None if str(valid_until) == "0" else epoch(valid_until, "validUntil"),
    )
