"""OKX: GET /api/v5/account/config ("Get account configuration", permission Read, ccxt cost 4).

Fields from https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-account-configuration: `perm` lists the
key's permissions (read_only, trade, withdraw) separated by commas; `ip` the addresses bound to the key, separated
by commas, "" when none is bound. The answer reports no expiry.
"""

from __future__ import annotations

from datetime import datetime

from credential_health.scopes.record import ScopeRecord

METHOD = "private_get_account_config"
PARAMS: dict = {}

TRADE, WITHDRAW = "trade", "withdraw"
# Transfers between accounts (POST /api/v5/asset/transfer) need the Trade permission
# (https://www.okx.com/docs-v5/en/#funding-account-rest-api-funds-transfer): trade answers both questions.
TRANSFER = TRADE


def _entry(answer: object) -> dict:
    """The one configuration object of {"code": "0", "data": [{...}], "msg": ""}."""
    if not isinstance(answer, dict) or answer.get("code") != "0":
        raise ValueError("not an OKX success answer")
    data = answer.get("data")
    if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
        raise ValueError("data is not one configuration object")
    return data[0]


def _items(entry: dict, name: str) -> tuple[str, ...]:
    value = entry.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return tuple(item.strip() for item in value.split(",") if item.strip())


def normalise(answer: dict, now: datetime) -> ScopeRecord:
    """The record of one account/config answer (egress_allowlisted is the probe's to fill)."""
    entry = _entry(answer)
    perm = _items(entry, "perm")
    if not perm:
        raise ValueError("perm is empty")  # every key has at least read_only
    allowlist = _items(entry, "ip")
    return ScopeRecord(
        can_trade=TRADE in perm,
        can_withdraw=WITHDRAW in perm,
        can_transfer=TRANSFER in perm,
        ip_restricted=bool(allowlist),
        ip_allowlist=allowlist,
        expires_at=None,  # not reported (OKX deletes unused keys without a bound IP; the answer does not say when)
    )
