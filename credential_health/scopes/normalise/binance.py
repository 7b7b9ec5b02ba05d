"""Binance: GET /sapi/v1/account/apiRestrictions ("Get API Key Permission", IP weight 1, the sapi pool).

Fields and units from https://developers.binance.com/docs/wallet/account/api-key-permission: booleans, and times
in milliseconds (createTime, tradingAuthorityExpirationTime: when the key's spot and margin trading authority ends;
absent for keys without one). The answer carries no IP list: ipRestrict only says whether one is set.
"""

from __future__ import annotations

from datetime import datetime

from credential_health.scopes.normalise.fields import BadScopeAnswer, any_flag, epoch, flag, mapping
from credential_health.scopes.record import ScopeRecord

METHOD = "sapi_get_account_apirestrictions"
PARAMS: dict = {}

# Each authorises trading of one kind; the key can trade when any of them is on.
TRADE_FLAGS = ("enableSpotAndMarginTrading", "enableFutures", "enableVanillaOptions", "enablePortfolioMarginTrading")
# Master/sub-account transfers and the universal transfer API.
TRANSFER_FLAGS = ("enableInternalTransfer", "permitsUniversalTransfer")


def normalise(answer: dict, now: datetime) -> ScopeRecord:
    """The record of one apiRestrictions answer (egress_allowlisted is the probe's to fill)."""
    body = mapping(answer)
    if flag(body, "ipRestrict") is None and flag(body, "enableReading") is None:
        raise BadScopeAnswer("not an apiRestrictions answer")  # e.g. {} from something in between
    return ScopeRecord(
        can_trade=any_flag(body, *TRADE_FLAGS),
        can_withdraw=flag(body, "enableWithdrawals"),
        can_transfer=any_flag(body, *TRANSFER_FLAGS),
        ip_restricted=flag(body, "ipRestrict"),
        ip_allowlist=None,  # not reported by this endpoint
        expires_at=epoch(body.get("tradingAuthorityExpirationTime"), "tradingAuthorityExpirationTime", 1000.0),
    )
