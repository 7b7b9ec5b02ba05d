"""Kraken REST as the simulator speaks it: signed POST /0/private/BalanceEx and the public market endpoints."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

from aiohttp import web

from credential_health.sandbox import key_scope, transport
from credential_health.sandbox.keys import STATE, SimKey

EXCHANGE = "kraken"
PREFIX = "/kraken"
KEY_INFO_PATH = "/0/private/GetApiKeyInfo"  # the scope probe's endpoint

# Kraken answers API errors with HTTP 200 and an "error" list (ccxt maps some of them by exact text). Every
# text is from Kraken's error guide, https://docs.kraken.com/exchange/guides/general/errors, unless noted.
ERRORS = {
    "revoked": "EAPI:Invalid key",  # a deleted or revoked key
    "bad_key_format": "EAPI:Invalid key",  # the guide: "missing, malformed, or ... deleted or revoked"
    "bad_signature": "EAPI:Invalid signature",  # API-Sign does not match: the guide's first cause is a wrong secret
    "permission_denied": "EGeneral:Permission denied",
    "suspended": "EAuth:Account temporary disabled",
    "rate_limited": "EAPI:Rate limit exceeded",
    "maintenance": "EService:Unavailable",
    "clock_skew": "EAPI:Invalid nonce",
    "bad_arguments": "EGeneral:Invalid arguments",
}
# Kraken sits behind Cloudflare: its gateway errors are HTML pages (the guide's "Cloudflare errors" section).
HTML_ERRORS = {"server_error": (502, "Bad Gateway"), "timeout": (504, "Gateway Timeout")}

ASSET_PAIRS = {
    "XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD", "base": "XXBT", "quote": "ZUSD"},
    "XETHZUSD": {"altname": "ETHUSD", "wsname": "ETH/USD", "base": "XETH", "quote": "ZUSD"},
}
ASSETS = {
    code: {"aclass": "currency", "altname": alt, "decimals": 10, "display_decimals": 5, "status": "enabled"}
    for code, alt in (("XXBT", "XBT"), ("XETH", "ETH"), ("ZUSD", "USD"))
}
BALANCE_EX = {
    "XXBT": {"balance": "0.5000000000", "hold_trade": "0.0000000000"},
    "ZUSD": {"balance": "1000.0000", "hold_trade": "0.0000"},
}


def _json(result: object = None, errors: tuple[str, ...] = (), status: int = 200) -> web.Response:
    body = {"error": list(errors)} if errors else {"error": [], "result": result}
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


def _html(name: str) -> web.Response:
    status, reason = HTML_ERRORS[name]
    return web.Response(
        text=f"<html><body><h1>{status} {reason}</h1></body></html>", status=status, content_type="text/html"
    )


def _throttled(verdict: str) -> web.Response | None:
    if verdict == "banned":
        return _json(errors=("EGeneral:Temporary lockout",), status=429)
    if verdict == "throttled":
        return _json(errors=("EGeneral:Too many requests",), status=429)
    return None


def expected_signature(secret: str, path: str, nonce: str, body: str) -> str | None:
    """Kraken's API-Sign: base64(HMAC-SHA512(base64-decoded secret, path + SHA256(nonce + body)))."""
    try:
        key = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        return None
    message = path.encode() + hashlib.sha256((nonce + body).encode()).digest()
    return base64.b64encode(hmac.new(key, message, hashlib.sha512).digest()).decode()


async def _public(request: web.Request, payload) -> web.Response:
    state = request.app[STATE]
    verdict, _, _ = state.charge(EXCHANGE, request.remote or "", 1)
    await state.pause(None)
    return _throttled(verdict) or _json(payload() if callable(payload) else payload)


def _render(payload, key: SimKey, scoped: bool) -> object:
    if scoped:
        return payload(key)
    return payload() if callable(payload) else payload


async def _private(request: web.Request, payload, scoped: bool = False) -> web.Response:
    """Kraken's order of checks: budget, API key, signature, nonce, then the key's scripted behaviour.

    `scoped`: the key-information endpoint, answering as the key's scope says once the key itself is good."""
    state = request.app[STATE]
    refusal, key = await key_scope.admit(request, EXCHANGE, PREFIX, request.headers.get("API-Key", ""), _throttled)
    if refusal is not None:
        return refusal
    if key is None:
        return _json(errors=(ERRORS["revoked"],))
    scenario = key_scope.scenario(key, scoped)
    if scenario in transport.BEHAVIOURS:  # answered by something in between, before the exchange sees it
        return transport.answer(scenario, json.dumps({"error": [], "result": _render(payload, key, scoped)}))
    if scenario in ("revoked", "bad_key_format"):
        return _json(errors=(ERRORS[scenario],))
    body = (await request.read()).decode()
    nonce = (parse_qs(body).get("nonce") or [""])[0]
    if not nonce.isdigit():
        return _json(errors=(ERRORS["bad_arguments"],))
    path = request.path[len(PREFIX) :]
    expected = expected_signature(key.secret, path, nonce, body)
    if expected is None or not hmac.compare_digest(expected, request.headers.get("API-Sign", "")):
        return _json(errors=(ERRORS["bad_signature"],))
    # "clock_skew": the key's nonce window sits in the future (another client used a larger nonce)
    if scenario == "clock_skew" or int(nonce) <= key.last_nonce:
        return _json(errors=(ERRORS["clock_skew"],))
    key.last_nonce = int(nonce)
    if scenario == "timeout":
        await state.hang()
        return _html("timeout")
    if scenario in HTML_ERRORS:
        return _html(scenario)
    if scenario == "malformed":
        return _json({})
    if scenario != "valid":
        return _json(errors=(ERRORS[scenario],))
    return _json(_render(payload, key, scoped))


def routes() -> list[web.RouteDef]:
    """Every Kraken route, under /kraken."""

    def public(path: str, payload) -> web.RouteDef:
        return web.get(PREFIX + path, functools.partial(_public, payload=payload))

    def private(path: str, payload, scoped: bool = False) -> web.RouteDef:
        return web.post(PREFIX + path, functools.partial(_private, payload=payload, scoped=scoped))

    return [
        public(
            "/0/public/Time",
            lambda: {
                "unixtime": int(time.time()),
                "rfc1123": time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime()),
            },
        ),
        public(
            "/0/public/SystemStatus",
            lambda: {"status": "online", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        ),
        public("/0/public/Assets", ASSETS),
        public("/0/public/AssetPairs", lambda: {name: _pair(name, info) for name, info in ASSET_PAIRS.items()}),
        private("/0/private/BalanceEx", BALANCE_EX),
        private("/0/private/Balance", {code: entry["balance"] for code, entry in BALANCE_EX.items()}),
        private(KEY_INFO_PATH, _api_key_info, scoped=True),
    ]


def _api_key_info(key: SimKey) -> dict:
    """GetApiKeyInfo's result as documented (https://docs.kraken.com/api-reference/account-data/get-api-key-info):
    times are Unix seconds in strings, validUntil "0" for a key that never expires. Kraken has no transfer
    permission of its own (transfers need withdraw-funds), so the scope's `transfer` has no field here."""
    permissions = ["query-funds", "query-open-trades", "query-closed-trades"]
    if key.scope_of("trade"):
        permissions += ["modify-trades", "cancel-close-trades"]
    if key.scope_of("withdraw"):
        permissions.append("withdraw-funds")
    expires = key.scope_of("expires_at")
    return {
        "apiKeyName": "simulated",
        "apiKey": key.api_key,
        "nonce": str(key.last_nonce),
        "nonceWindow": 0,
        "permissions": permissions,
        "iban": "AA88 N84G WOAK NMOI",
        "validUntil": str(int(expires or 0)),
        "queryFrom": "0",
        "queryTo": "0",
        "createdTime": "1698645219",
        "modifiedTime": "1698645219",
        "ipAllowlist": list(key.scope_of("ip_allowlist")),
        "lastUsed": str(int(time.time())),
    }


def _pair(name: str, info: dict) -> dict:
    return {
        **info,
        "aclass_base": "currency",
        "aclass_quote": "currency",
        "lot": "unit",
        "pair_decimals": 1,
        "cost_decimals": 5,
        "lot_decimals": 8,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": [[0, 0.26]],
        "fees_maker": [[0, 0.16]],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": "0.0001",
        "costmin": "0.5",
        "tick_size": "0.1",
        "status": "online",
    }
