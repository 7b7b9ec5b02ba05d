"""KuCoin spot REST as the simulator speaks it: GET /api/v1/accounts, the account-mode call ccxt makes first,
and GET /api/v1/user/api-key.

Auth (https://www.kucoin.com/docs-new/authentication): KC-API-KEY, KC-API-TIMESTAMP (ms, within 5 s of the
server), KC-API-SIGN = base64(HMAC-SHA256(secret, timestamp + method + endpoint-with-query + body)),
KC-API-PASSPHRASE (key versions 2 and 3: base64(HMAC-SHA256(secret, passphrase)); version 1: plain) and
KC-API-KEY-VERSION.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import uuid

from aiohttp import web

from credential_health.sandbox import key_scope, transport
from credential_health.sandbox.keys import STATE, SimKey

KEY_INFO_PATH = "/api/v1/user/api-key"  # what the scope probe asks
EXCHANGE = "kucoin"
PREFIX = "/kucoin"
SUCCESS = "200000"
# KuCoin's error bodies are {"code": "<6 digits>", "msg": ...}. Codes and texts: the spot error-code list
# (https://www.kucoin.com/docs/basic-info/errors-code/spot-errors-code) and the gateway codes of
# https://www.kucoin.com/docs-new/error-code/websocket ("GATEWAY ERROR CODE"); HTTP statuses: 401 for a key or
# signature KuCoin cannot authenticate, 403 for a forbidden one, 429, 500 and 503 as its HTTP status-code list.
ERRORS: dict[str, tuple[int, str, str]] = {
    "missing_headers": (
        401,
        "400001",
        "Any of KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE is missing in your request header.",
    ),
    "clock_skew": (401, "400002", "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 seconds"),
    "revoked": (401, "400003", "KC-API-KEY not exists"),
    "bad_key_format": (401, "400003", "KC-API-KEY not exists"),  # KuCoin names no separate format error
    "bad_passphrase": (401, "400004", "Invalid KC-API-PASSPHRASE"),
    "bad_signature": (401, "400005", "Invalid KC-API-SIGN"),
    "ip_not_allowed": (403, "400006", "Invalid request IP, the current clientIp is:{ip}"),
    "permission_denied": (403, "400007", "Access Denied, require more permission."),
    "bad_key_version": (401, "400009", "Invalid KC-API-KEY-VERSION"),
    "suspended": (403, "411100", "User are frozen"),
    "rate_limited": (429, "429000", "Too many requests in a short period of time, please retry later."),
    "server_error": (500, "500000", "Internal Server Error"),
    # ccxt's kucoin maps code "503" to ExchangeNotAvailable: the body of its 503 "offline for maintenance"
    "maintenance": (503, "503", "Service Unavailable"),
}
TIME_WINDOW_MS = 5_000
BALANCES = (("BTC", "0.5"), ("USDT", "1000"))


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


def _error(name: str, ip: str = "") -> web.Response:
    status, code, msg = ERRORS[name]
    return _json({"code": code, "msg": msg.replace("{ip}", ip)}, status)


def _gateway_timeout() -> web.Response:
    return web.Response(
        text="<html><body><h1>504 Gateway Time-out</h1></body></html>", status=504, content_type="text/html"
    )


def _hmac_b64(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


def expected_signature(secret: str, timestamp: str, method: str, endpoint: str, body: str) -> str:
    """KC-API-SIGN for a request: the endpoint is the path with its query string."""
    return _hmac_b64(secret, timestamp + method + endpoint + body)


def expected_passphrase(key: SimKey, version: str) -> str | None:
    """KC-API-PASSPHRASE as the key version requires it (None: a version KuCoin does not have)."""
    if version in ("2", "3"):
        return _hmac_b64(key.secret, key.passphrase)
    return key.passphrase if version == "1" else None


async def _private(request: web.Request, payload, scoped: bool = False) -> web.Response:
    """KuCoin's order: budget, headers present, key, scripted refusals, passphrase, signature, time, IP list."""
    state = request.app[STATE]
    headers = request.headers
    refusal, key = await key_scope.admit(
        request, EXCHANGE, PREFIX, headers.get("KC-API-KEY", ""), lambda _: _error("rate_limited")
    )
    if refusal is not None:
        return refusal
    if not all(headers.get(name) for name in ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE")):
        return _error("missing_headers")
    # KuCoin documents no expiry answer (api-key reports none): an expired key is one that no longer exists.
    if key is None or key_scope.expired(key):
        return _error("revoked")
    scenario = key_scope.scenario(key, scoped)
    data = payload(key, request) if callable(payload) else payload
    if scenario in transport.BEHAVIOURS:  # answered by something in between, before the exchange sees it
        return transport.answer(scenario, json.dumps({"code": SUCCESS, "data": data}))
    if scenario in ("revoked", "bad_key_format"):
        return _error(scenario)
    passphrase = expected_passphrase(key, headers.get("KC-API-KEY-VERSION", "1"))
    if passphrase is None:
        return _error("bad_key_version")
    if not hmac.compare_digest(passphrase, headers["KC-API-PASSPHRASE"]):
        return _error("bad_passphrase")
    body = (await request.read()).decode()
    endpoint = request.path_qs[len(PREFIX) :]
    signature = expected_signature(key.secret, headers["KC-API-TIMESTAMP"], request.method, endpoint, body)
    if not hmac.compare_digest(signature, headers["KC-API-SIGN"]):
        return _error("bad_signature")
    server_ms = time.time() * 1000 + (state.clock_skew_ms if scenario == "clock_skew" else 0)
    try:
        if abs(server_ms - int(headers["KC-API-TIMESTAMP"])) > TIME_WINDOW_MS:
            return _error("clock_skew")
    except ValueError:
        return _error("clock_skew")
    if not key_scope.ip_allowed(key, request.remote):
        return _error("ip_not_allowed", request.remote or "")
    if scenario == "timeout":
        await state.hang()
        return _gateway_timeout()
    if scenario == "malformed":
        return _json({"code": SUCCESS, "data": {}})  # a success without the documented fields
    if scenario != "valid":
        return _error(scenario)
    return _json({"code": SUCCESS, "data": data})


def accounts(key: SimKey, request: web.Request) -> list[dict]:
    """Get Account List - Spot (https://www.kucoin.com/docs-new/rest/account-info/account-funding/
    get-account-list-spot): one entry per currency and account type, filtered by `type` and `currency`."""
    wanted_type, wanted_currency = request.query.get("type"), request.query.get("currency")
    return [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key.api_key}/{currency}")),
            "currency": currency,
            "type": "trade",
            "balance": amount,
            "available": amount,
            "holds": "0",
        }
        for currency, amount in BALANCES
        if wanted_type in (None, "trade") and wanted_currency in (None, currency)
    ]


def account_mode(key: SimKey, request: web.Request) -> dict:
    """Get Account Mode (https://www.kucoin.com/docs-new/rest/ua/get-account-mode): a classic account."""
    return {"selfAccountMode": "CLASSIC"}


def api_key_info(key: SimKey, request: web.Request) -> dict:
    """Get API Key Info (https://www.kucoin.com/docs-new/rest/account-info/account-funding/get-apikey-info):
    `permission` a comma-separated list, `ipWhitelist` a comma-separated list or empty; no expiry field."""
    granted = (("Spot", "trade"), ("Withdrawal", "withdraw"), ("InnerTransfer", "transfer"))
    permission = ["General"] + [name for name, flag in granted if key_scope.can(key, flag)]
    return {
        "remark": "credential-health simulator",
        "apiKey": key.api_key,
        "apiVersion": 3,
        "permission": ",".join(permission),
        "ipWhitelist": ",".join(key_scope.ip_allowlist(key)),
        "createdAt": 1704067200000,
        "uid": 165111215,
        "isMaster": True,
    }


def routes() -> list[web.RouteDef]:
    """Every KuCoin route, under /kucoin."""

    def private(path: str, payload, scoped: bool = False) -> web.RouteDef:
        return web.get(PREFIX + path, functools.partial(_private, payload=payload, scoped=scoped))

    return [
        private("/api/v1/accounts", accounts),
        private("/api/ua/v1/account/mode", account_mode),
        private(KEY_INFO_PATH, api_key_info, scoped=True),
    ]
