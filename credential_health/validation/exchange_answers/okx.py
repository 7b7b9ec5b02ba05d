"""OKX v5: its error codes as the classification reads them, and the account answer of GET /api/v5/account/balance.

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
    MAINTENANCE,
    PERMISSION_DENIED,
    RATE_LIMITED,
    TIMEOUT,
)

EXCHANGE = "okx"
SOURCE = "https://www.okx.com/docs-v5/en/#error-code-rest-api-public"
INVALID, UNKNOWN = Status.INVALID, Status.UNKNOWN

# (code, status, error_code, OKX's message); HTTP statuses are in the simulator (sandbox/okx.py).
ROWS: tuple[tuple[str, Status, str, str], ...] = (
    ("50111", INVALID, AUTH_REJECTED, "Invalid OK-ACCESS-KEY."),
    ("50113", INVALID, AUTH_REJECTED, "Invalid signature."),
    ("50105", INVALID, AUTH_REJECTED, 'Request header "OK-ACCESS-PASSPHRASE" incorrect.'),
    ("50114", INVALID, AUTH_REJECTED, "Invalid authorization."),
    ("50119", INVALID, AUTH_REJECTED, "API key doesn't exist"),
    ("50101", INVALID, AUTH_REJECTED, "APIKey does not match current environment."),
    ("50008", INVALID, AUTH_REJECTED, "User doesn't exist."),
    ("50110", INVALID, EGRESS_NOT_ALLOWLISTED, "Your IP {param0} is not included in your API key's IP whitelist."),
    ("50120", INVALID, PERMISSION_DENIED, "This API key doesn't have permission to use this function"),
    ("50007", INVALID, ACCOUNT_SUSPENDED, "User blocked."),
    ("50100", INVALID, ACCOUNT_SUSPENDED, "API frozen, please contact customer service."),
    ("50102", UNKNOWN, CLOCK_SKEW, "Timestamp request expired."),
    ("50112", UNKNOWN, CLOCK_SKEW, "Invalid OK-ACCESS-TIMESTAMP."),
    (
        "50011",
        UNKNOWN,
        RATE_LIMITED,
        "Rate limit reached. Please refer to API documentation and throttle requests accordingly.",
    ),
    ("50013", UNKNOWN, EXCHANGE_UNAVAILABLE, "Systems are busy. Please try again later."),
    ("50001", UNKNOWN, MAINTENANCE, "Service temporarily unavailable. Please try again later."),
    ("50005", UNKNOWN, EXCHANGE_UNAVAILABLE, "API endpoint is inactive or unavailable."),
    ("50026", UNKNOWN, EXCHANGE_UNAVAILABLE, "System error. Try again later"),
    (
        "50004",
        UNKNOWN,
        TIMEOUT,
        "API endpoint request timeout. (does not mean that the request was successful or "
        "failed, please check the request result).",
    ),
)


def error(body: dict) -> str | None:
    """OKX's code in {"code": "50111", "msg": "...", "data": []}; "0" is success and "2" a partial success."""
    code, message = body.get("code"), body.get("msg")
    if (
        isinstance(code, (str, int))
        and not isinstance(code, bool)
        and str(code) not in ("0", "2", "")
        and isinstance(message, str)
    ):
        return str(code)
    return None


def is_account(body: object) -> bool:
    """{"code": "0", "data": [{"details": [{"ccy": ..., "cashBal": ..., ...}], ...}]}
    (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-balance)."""
    if not isinstance(body, dict) or body.get("code") != "0" or not isinstance(body.get("data"), list):
        return False
    return all(
        isinstance(entry, dict)
        and isinstance(entry.get("details"), list)
        and all(isinstance(d, dict) and isinstance(d.get("ccy"), str) and "cashBal" in d for d in entry["details"])
        for entry in body["data"]
    )
