"""What the exchange itself said: its documented error answers, and whether a body is a real account answer.

`ANSWERS` is the one table of exchange-coded answers the classification relies on; every row carries the
exchange's published meaning and the page that publishes it (docs/operations.md renders the same table).
Kept free of ccxt: the docs test and the guard read it without importing the client.
"""

from __future__ import annotations

from typing import NamedTuple

from credential_health.models import Status
from credential_health.validation.codes import (
    ACCOUNT_SUSPENDED,
    AUTH_REJECTED,
    CLOCK_SKEW,
    EGRESS_NOT_ALLOWLISTED,
    EXCHANGE_UNAVAILABLE,
    PERMISSION_DENIED,
    RATE_LIMITED,
    TIMEOUT,
    UNEXPECTED,
)
from credential_health.validation.exchange_answers import bybit, okx

BINANCE_ERRORS = "https://developers.binance.com/docs/binance-spot-api-docs/errors"
BINANCE_SAPI_ERRORS = "https://developers.binance.com/docs/margin_trading/error-code"
KRAKEN_ERRORS = "https://docs.kraken.com/exchange/guides/general/errors"
COINBASE_ERRORS = "https://docs.cdp.coinbase.com/coinbase-app/api-architecture/error-messages"
COINBASE_V3 = "https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/rest-scopes"
KUCOIN_ERRORS = "https://www.kucoin.com/docs/basic-info/errors-code/spot-errors-code"
KUCOIN_GATEWAY = "https://www.kucoin.com/docs-new/error-code/websocket"  # its "GATEWAY ERROR CODE" section
INVALID, UNKNOWN = Status.INVALID, Status.UNKNOWN


class Answer(NamedTuple):
    """One exchange-coded answer: Binance's `code` (or codeless `msg`), or Kraken's error string."""

    exchange: str
    evidence: str
    status: Status
    error_code: str
    meaning: str
    source: str


ANSWERS: tuple[Answer, ...] = (
    Answer(
        "binance",
        "-2015",
        INVALID,
        AUTH_REJECTED,
        "REJECTED_MBX_KEY: Invalid API-key, IP, or permissions for action.",
        BINANCE_ERRORS,
    ),
    Answer("binance", "-2014", INVALID, AUTH_REJECTED, "BAD_API_KEY_FMT: API-key format invalid.", BINANCE_ERRORS),
    Answer(
        "binance",
        "-1022",
        INVALID,
        AUTH_REJECTED,
        "INVALID_SIGNATURE: Signature for this request is not valid.",
        BINANCE_ERRORS,
    ),
    Answer(
        "binance",
        "-1002",
        INVALID,
        PERMISSION_DENIED,
        "UNAUTHORIZED: You are not authorized to execute this request.",
        BINANCE_ERRORS,
    ),
    Answer(
        "binance",
        "-3022",
        INVALID,
        ACCOUNT_SUSPENDED,
        "ACCOUNT_BAN_TRADE: You account's trading is banned.",
        BINANCE_SAPI_ERRORS,
    ),
    Answer(
        "binance",
        "-1021",
        UNKNOWN,
        CLOCK_SKEW,
        "INVALID_TIMESTAMP: Timestamp for this request is outside of the recvWindow.",
        BINANCE_ERRORS,
    ),
    Answer(
        "binance",
        "-1003",
        UNKNOWN,
        RATE_LIMITED,
        "TOO_MANY_REQUESTS: Too much request weight used (or IP banned until a time).",
        BINANCE_ERRORS,
    ),
    Answer(
        "binance",
        "-1000",
        UNKNOWN,
        EXCHANGE_UNAVAILABLE,
        "UNKNOWN: An unknown error occurred while processing the request.",
        BINANCE_ERRORS,
    ),
    Answer(
        "binance",
        "-1001",
        UNKNOWN,
        EXCHANGE_UNAVAILABLE,
        "DISCONNECTED: Internal error; unable to process your request. Please try again.",
        BINANCE_ERRORS,
    ),
    Answer(
        "binance",
        "-1006",
        UNKNOWN,
        EXCHANGE_UNAVAILABLE,
        "UNEXPECTED_RESP: An unexpected response was received from the message bus.",
        BINANCE_ERRORS,
    ),
    Answer(
        "binance",
        "-1007",
        UNKNOWN,
        TIMEOUT,
        "TIMEOUT: Timeout waiting for response from backend server.",
        BINANCE_ERRORS,
    ),
    Answer(
        "binance",
        "-1008",
        UNKNOWN,
        EXCHANGE_UNAVAILABLE,
        "SERVER_BUSY: Server is currently overloaded with other requests.",
        BINANCE_ERRORS,
    ),
    Answer(
        "binance",
        "-1016",
        UNKNOWN,
        EXCHANGE_UNAVAILABLE,
        "SERVICE_SHUTTING_DOWN: This service is no longer available.",
        BINANCE_ERRORS,
    ),
    Answer(
        "kraken",
        "EAPI:Invalid key",
        INVALID,
        AUTH_REJECTED,
        "The API-Key header is missing, malformed, or refers to a key that has been deleted or revoked.",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EAPI:Invalid signature",
        INVALID,
        AUTH_REJECTED,
        "The API-Sign header does not match the expected HMAC-SHA512 signature (e.g. a wrong API secret).",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EGeneral:Permission denied",
        INVALID,
        PERMISSION_DENIED,
        "The API key does not have the permission for the task (e.g. querying funds).",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EAuth:Account temporary disabled",
        INVALID,
        ACCOUNT_SUSPENDED,
        "The account is temporarily disabled.",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EAPI:Invalid nonce",
        UNKNOWN,
        CLOCK_SKEW,
        "The nonce is less than or equal to the last accepted nonce for this API key.",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EAPI:Rate limit exceeded",
        UNKNOWN,
        RATE_LIMITED,
        "The API call-rate counter exceeded its limit.",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EGeneral:Temporary lockout",
        UNKNOWN,
        RATE_LIMITED,
        "Too many failed calls in a short time: the key is locked out for a few minutes.",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EGeneral:Too many requests",
        UNKNOWN,
        RATE_LIMITED,
        "Too many requests in a short time.",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EService:Unavailable",
        UNKNOWN,
        EXCHANGE_UNAVAILABLE,
        "The exchange or its API is offline (maintenance).",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EService:Busy",
        UNKNOWN,
        EXCHANGE_UNAVAILABLE,
        "The exchange is busy; try again later.",
        KRAKEN_ERRORS,
    ),
    Answer(
        "kraken",
        "EGeneral:Internal error",
        UNKNOWN,
        EXCHANGE_UNAVAILABLE,
        "An internal error on the exchange's side.",
        KRAKEN_ERRORS,
    ),
    Answer("coinbase", "authentication_error", INVALID, AUTH_REJECTED, "401: Invalid auth (generic).", COINBASE_ERRORS),
    # ccxt's coinbase quotes this body for a request outside the time window: the clock, not the key
    Answer(
        "coinbase",
        "authentication_error: request timestamp expired",
        UNKNOWN,
        CLOCK_SKEW,
        "401: the request's timestamp (the JWT's nbf/exp) is outside the accepted window.",
        COINBASE_ERRORS,
    ),
    Answer(
        "coinbase",
        "invalid_scope",
        INVALID,
        PERMISSION_DENIED,
        "403: User hasn't authenticated necessary scope.",
        COINBASE_ERRORS,
    ),
    Answer(
        "coinbase",
        "invalid_authentication_method",
        INVALID,
        ACCOUNT_SUSPENDED,
        "401: API access is blocked for deleted users.",
        COINBASE_ERRORS,
    ),
    Answer(
        "coinbase",
        "PERMISSION_DENIED",
        INVALID,
        PERMISSION_DENIED,
        "403 (Advanced Trade): the key lacks the scope (view, trade or transfer) the endpoint needs.",
        COINBASE_V3,
    ),
    Answer("coinbase", "rate_limit_exceeded", UNKNOWN, RATE_LIMITED, "429: Rate limit exceeded.", COINBASE_ERRORS),
    Answer(
        "coinbase",
        "internal_server_error",
        UNKNOWN,
        EXCHANGE_UNAVAILABLE,
        "500: Internal server error.",
        COINBASE_ERRORS,
    ),
    # A header ccxt always sends was missing: something between us and KuCoin changed the request
    Answer(
        "kucoin",
        "400001",
        UNKNOWN,
        UNEXPECTED,
        "Any of KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE is missing in your request header.",
        KUCOIN_ERRORS,
    ),
    Answer(
        "kucoin",
        "400002",
        UNKNOWN,
        CLOCK_SKEW,
        "KC-API-TIMESTAMP Invalid: more than 5 seconds from the server time.",
        KUCOIN_ERRORS,
    ),
    Answer("kucoin", "400003", INVALID, AUTH_REJECTED, "KC-API-KEY not exists.", KUCOIN_ERRORS),
    Answer("kucoin", "400004", INVALID, AUTH_REJECTED, "KC-API-PASSPHRASE error.", KUCOIN_ERRORS),
    Answer("kucoin", "400005", INVALID, AUTH_REJECTED, "Signature error (a wrong API secret).", KUCOIN_ERRORS),
    Answer(
        "kucoin",
        "400006",
        INVALID,
        EGRESS_NOT_ALLOWLISTED,
        "The requested ip address is not in the api whitelist.",
        KUCOIN_ERRORS,
    ),
    Answer(
        "kucoin",
        "400007",
        INVALID,
        PERMISSION_DENIED,
        "Access Denied: the API key lacks the permission for the URI.",
        KUCOIN_ERRORS,
    ),
    Answer("kucoin", "400009", INVALID, AUTH_REJECTED, "Invalid KC-API-KEY-VERSION.", KUCOIN_GATEWAY),
    Answer("kucoin", "411100", INVALID, ACCOUNT_SUSPENDED, "User are frozen.", KUCOIN_ERRORS),
    Answer("kucoin", "429000", UNKNOWN, RATE_LIMITED, "Too many requests (rate limit exceeded).", KUCOIN_GATEWAY),
    Answer("kucoin", "500000", UNKNOWN, EXCHANGE_UNAVAILABLE, "Internal Server Error.", KUCOIN_ERRORS),
    *(
        Answer(module.EXCHANGE, evidence, status, code, meaning, module.SOURCE)
        for module in (okx, bybit)
        for evidence, status, code, meaning in module.ROWS
    ),
)
# Exchanges whose error body and account answer live in `exchange_answers.<id>` (error(body), is_account(body)).
_SHAPES = {module.EXCHANGE: module for module in (okx, bybit)}
_BY_EVIDENCE = {(row.exchange, row.evidence): row for row in ANSWERS}
KUCOIN_SUCCESS = "200000"
KUCOIN_BALANCE_FIELDS = ("currency", "balance", "available", "holds")
GENERIC_EVIDENCE = "json"  # an exchange with no shape known here answered with a JSON error body


def exchange_error(exchange_id: str, body: object) -> str | None:
    """The exchange's own error code or message in a parsed body, or None when the body is not its error answer."""
    if not isinstance(body, dict):
        return None
    if exchange_id == "binance":  # {"code": -2015, "msg": "..."}, or SAPI's codeless {"msg": "...", "success": false}
        code, message = body.get("code"), body.get("msg")
        if isinstance(code, int) and not isinstance(code, bool) and code not in (0, 200) and isinstance(message, str):
            return str(code)
        if body.get("success") is False and isinstance(message, str):
            return message
        return None
    if exchange_id == "kraken":  # {"error": ["EAPI:Invalid key"]}; "W..." entries are warnings
        errors = body.get("error")
        if isinstance(errors, list):
            return next((e for e in errors if isinstance(e, str) and e.startswith("E") and ":" in e), None)
        return None
    if exchange_id == "coinbase":  # v2 {"errors": [{"id", "message"}]}; Advanced Trade {"error": "PERMISSION_DENIED"}
        errors, error = body.get("errors"), body.get("error")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and isinstance(errors[0].get("id"), str):
            message = errors[0].get("message")
            return f"{errors[0]['id']}: {message}" if isinstance(message, str) and message else errors[0]["id"]
        return error if isinstance(error, str) and error else None
    if exchange_id == "kucoin":  # {"code": "400003", "msg": "..."}; success is {"code": "200000", "data": ...}
        code = body.get("code")
        return code if isinstance(code, str) and code != KUCOIN_SUCCESS and isinstance(body.get("msg"), str) else None
    if exchange_id in _SHAPES:
        return _SHAPES[exchange_id].error(body)
    return GENERIC_EVIDENCE if body else None


def lookup(exchange_id: str, evidence: str | None) -> Answer | None:
    """The table row for an exchange's answer (Kraken's extra detail after a second colon is ignored)."""
    if evidence is None:
        return None
    row = _BY_EVIDENCE.get((exchange_id, evidence))
    if row is None and exchange_id == "kraken":
        row = _BY_EVIDENCE.get((exchange_id, ":".join(evidence.split(":")[:2])))
    if row is None and exchange_id == "coinbase":  # "id: message" -> the id's row
        row = _BY_EVIDENCE.get((exchange_id, evidence.split(": ")[0]))
    return row


def is_account_answer(exchange_id: str, body: object) -> bool:
    """Whether a parsed body is the account answer the exchange documents for the balance call.

    Binance GET /api/v3/account: an object whose `balances` is a list of {asset, free, locked}.
    Kraken POST /0/private/BalanceEx: {"error": [], "result": {asset: {"balance": ..., ...}}}.
    Coinbase GET /v2/accounts: {"data": [{"balance": {"amount", "currency"}, ...}]} (Advanced Trade's
    /api/v3/brokerage/accounts: {"accounts": [{"available_balance": {"value", "currency"}, ...}]}).
    KuCoin GET /api/v1/accounts: {"code": "200000", "data": [{currency, balance, available, holds}]}.
    OKX and Bybit: see `exchange_answers.okx` / `exchange_answers.bybit`.
    Other exchanges (no shape known here): a non-empty JSON object or array.
    """
    if exchange_id == "binance":
        balances = body.get("balances") if isinstance(body, dict) else None
        return isinstance(balances, list) and all(
            isinstance(b, dict) and isinstance(b.get("asset"), str) and "free" in b and "locked" in b for b in balances
        )
    if exchange_id == "kraken":
        if not isinstance(body, dict) or body.get("error") != []:
            return False
        result = body.get("result")
        return isinstance(result, dict) and all(isinstance(v, dict) and "balance" in v for v in result.values())
    if exchange_id == "coinbase":
        return isinstance(body, dict) and (
            _all_have(body.get("data"), "balance", ("amount", "currency"))
            or _all_have(body.get("accounts"), "available_balance", ("value", "currency"))
        )
    if exchange_id == "kucoin":
        entries = body.get("data") if isinstance(body, dict) and body.get("code") == KUCOIN_SUCCESS else None
        return isinstance(entries, list) and all(
            isinstance(e, dict) and all(isinstance(e.get(f), str) for f in KUCOIN_BALANCE_FIELDS) for e in entries
        )
    if exchange_id in _SHAPES:
        return _SHAPES[exchange_id].is_account(body)
    return isinstance(body, (dict, list)) and bool(body)


def _all_have(entries: object, name: str, fields: tuple[str, ...]) -> bool:
    """Whether `entries` is a list whose every item has a dict `name` with string `fields`."""
    return isinstance(entries, list) and all(
        isinstance(e, dict) and isinstance(e.get(name), dict) and all(isinstance(e[name].get(f), str) for f in fields)
        for e in entries
    )
