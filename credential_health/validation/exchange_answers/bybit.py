"""Bybit v5: its retCodes as the classification reads them, and the account answer of GET /v5/account/wallet-balance.

Kept free of ccxt (see `validation.answers`).
"""

from __future__ import annotations

from credential_health.models import Status
from credential_health.validation.codes import (
    ACCOUNT_SUSPENDED,
    AUTH_REJECTED,
    CLOCK_SKEW,
    EGRESS_NOT_ALLOWLISTED,
    EXCHANGE_UNAVAILABLE,
    KEY_EXPIRED,
    PERMISSION_DENIED,
    RATE_LIMITED,
    TIMEOUT,
    UNEXPECTED,
)

EXCHANGE = "bybit"
SOURCE = "https://bybit-exchange.github.io/docs/v5/error"
INVALID, UNKNOWN = Status.INVALID, Status.UNKNOWN

# (retCode, status, error_code, Bybit's message)
ROWS: tuple[tuple[str, Status, str, str], ...] = (
    ("10003", INVALID, AUTH_REJECTED, "API key is invalid. Check whether the key and domain are matched."),
    ("10004", INVALID, AUTH_REJECTED, "Error sign, please check your signature generation algorithm."),
    ("10007", INVALID, AUTH_REJECTED, "User authentication failed."),
    ("10005", INVALID, PERMISSION_DENIED, "Permission denied, please check your API key permissions."),
    ("10010", INVALID, EGRESS_NOT_ALLOWLISTED, "Unmatched IP, please check your API key's bound IP addresses."),
    ("10008", INVALID, ACCOUNT_SUSPENDED, "Common banned, please check your account mode"),
    ("33004", INVALID, KEY_EXPIRED, "(Derivatives) Your api key has expired"),
    ("-2015", INVALID, KEY_EXPIRED, "(Spot) Your api key has expired"),
    # a region block on the egress address: not the key's fault, and no retry helps
    ("10009", UNKNOWN, UNEXPECTED, "Service Restricted: Access is currently unavailable for your region."),
    ("10002", UNKNOWN, CLOCK_SKEW, "The request time exceeds the time window range."),
    ("10006", UNKNOWN, RATE_LIMITED, "Too many visits. Exceeded the API Rate Limit."),
    ("10018", UNKNOWN, RATE_LIMITED, "Exceeded the IP Rate Limit."),
    ("10000", UNKNOWN, TIMEOUT, "Server Timeout"),
    ("10016", UNKNOWN, EXCHANGE_UNAVAILABLE, "Server error (or: service is restarting)."),
    ("429", UNKNOWN, EXCHANGE_UNAVAILABLE, "The trading service is experiencing a high server load."),
)


def error(body: dict) -> str | None:
    """Bybit's retCode in {"retCode": 10003, "retMsg": "...", ...} (legacy answers spell it ret_code)."""
    code = body.get("retCode", body.get("ret_code"))
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        return str(code)
    return None


def is_account(body: object) -> bool:
    """{"retCode": 0, "result": {"list": [{"accountType": ..., "coin": [{"coin": ..., "walletBalance": ...}]}]}}
    (https://bybit-exchange.github.io/docs/v5/account/wallet-balance)."""
    if not isinstance(body, dict) or body.get("retCode") != 0 or not isinstance(body.get("result"), dict):
        return False
    accounts = body["result"].get("list")
    return isinstance(accounts, list) and all(
        isinstance(a, dict)
        and isinstance(a.get("accountType"), str)
        and isinstance(a.get("coin"), list)
        and all(isinstance(c, dict) and isinstance(c.get("coin"), str) and "walletBalance" in c for c in a["coin"])
        for a in accounts
    )
