"""Binance spot REST as the simulator speaks it: signed GET /api/v3/account and what ccxt loads markets from."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import time

from aiohttp import web

from credential_health.sandbox import transport
from credential_health.sandbox.keys import STATE, SimKey

EXCHANGE = "binance"
PREFIX = "/binance"

# Binance's own error bodies (HTTP status and {"code", "msg"}), each with the page that documents it.
SPOT_ERRORS = "https://developers.binance.com/docs/binance-spot-api-docs/errors"
REST_INFO = "https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-api-information"
ERRORS: dict[str, tuple[int, dict]] = {
    # SPOT_ERRORS -2015 REJECTED_MBX_KEY (a deleted key, or one not allowed from this IP)
    "revoked": (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}),
    # SPOT_ERRORS -2014 BAD_API_KEY_FMT
    "bad_key_format": (401, {"code": -2014, "msg": "API-key format invalid."}),
    # SPOT_ERRORS -1022 INVALID_SIGNATURE (a wrong secret)
    "bad_signature": (400, {"code": -1022, "msg": "Signature for this request is not valid."}),
    # SPOT_ERRORS -1002 UNAUTHORIZED
    "permission_denied": (401, {"code": -1002, "msg": "You are not authorized to execute this request."}),
    # Binance's SAPI error codes (developers.binance.com/docs/margin_trading/error-code): -3022 ACCOUNT_BAN_TRADE
    "suspended": (403, {"code": -3022, "msg": "You account's trading is banned."}),
    # SPOT_ERRORS -1003 TOO_MANY_REQUESTS; REST_INFO: HTTP 429 when a rate limit is broken
    "rate_limited": (
        429,
        {
            "code": -1003,
            "msg": "Too many requests; current limit of IP is 6000 request weight "
            "per 1 MINUTE. Please use the websocket for live updates.",
        },
    ),
    # SPOT_ERRORS -1001 DISCONNECTED; REST_INFO: HTTP 5XX for internal errors on Binance's side
    "server_error": (503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}),
    # ccxt's binance exceptions map quotes this body ('System is under maintenance.' -> OnMaintenance)
    "maintenance": (503, {"code": 1, "msg": "System is under maintenance."}),
    # SPOT_ERRORS -1021 INVALID_TIMESTAMP
    "clock_skew": (400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}),
    # SPOT_ERRORS -1007 TIMEOUT
    "timeout": (
        408,
        {
            "code": -1007,
            "msg": "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        },
    ),
    # REST_INFO: recvWindow cannot exceed 60000
    "recv_window": (400, {"code": -1131, "msg": "recvWindow must be less than 60000"}),
}

# /api/* shares one IP pool (6,000 a minute, 418 bans); each IP-limited /sapi/* endpoint has a pool of its own
# (12,000 a minute), reported in X-SAPI-USED-IP-WEIGHT-1M and never escalated to a ban
# (https://developers.binance.com/zh-CN/docs/products/caas/basics/4.rate-limits, "/api/* and /sapi/* differ").
API_WEIGHT_HEADER, SAPI_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M", "X-SAPI-USED-IP-WEIGHT-1M"
CREATED_MS = 1_698_645_219_000  # every simulated key's createTime
KEY_INFO_PATH = "/sapi/v1/account/apiRestrictions"  # the scope probe's endpoint

SYMBOLS = [("BTCUSDT", "BTC", "USDT"), ("ETHUSDT", "ETH", "USDT")]
BALANCES = [
    {"asset": "BTC", "free": "0.50000000", "locked": "0.00000000"},
    {"asset": "USDT", "free": "1000.00000000", "locked": "0.00000000"},
]


def _json(
    data: object,
    status: int = 200,
    used_weight: int | None = None,
    weight_header: str = API_WEIGHT_HEADER,
    **headers: str,
) -> web.Response:
    if used_weight is not None:
        headers[weight_header] = str(used_weight)
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json", headers=headers)


def _error(name: str, used_weight: int | None = None, weight_header: str = API_WEIGHT_HEADER) -> web.Response:
    status, body = ERRORS[name]
    return _json(body, status, used_weight, weight_header)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _symbol(symbol: str, base: str, quote: str) -> dict:
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "permissions": ["SPOT"],
        "permissionSets": [["SPOT"]],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00", "stepSize": "0.00001"},
        ],
    }


def _exchange_info(symbols: list[tuple[str, str, str]]) -> dict:
    return {
        "timezone": "UTC",
        "serverTime": _now_ms(),
        "exchangeFilters": [],
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}],
        "symbols": [_symbol(*s) for s in symbols],
    }


def _signature_payload(raw_query: str) -> tuple[str, str | None]:
    """The signed text (every parameter but `signature`, in the order sent) and the signature itself."""
    kept, signature = [], None
    for part in raw_query.split("&"):
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        elif part:
            kept.append(part)
    return "&".join(kept), signature


async def _public(request: web.Request, weight: int, payload) -> web.Response:
    state = request.app[STATE]
    verdict, used, retry_after = state.charge(EXCHANGE, request.remote or "", weight)
    await state.pause(None)
    if verdict != "ok":
        return _throttled(verdict, used, retry_after)
    return _json(payload() if callable(payload) else payload, used_weight=used)


def _throttled(verdict: str, used: int, retry_after: float, weight_header: str = API_WEIGHT_HEADER) -> web.Response:
    """429 or 418 with Retry-After in whole seconds, as Binance answers an IP over its request weight
    (developers.binance.com/docs/binance-spot-api-docs/rest-api/limits)."""
    seconds = str(max(1, math.ceil(retry_after)))
    if verdict == "banned":
        until = _now_ms() + int(retry_after * 1000)
        body = {
            "code": -1003,
            "msg": f"Way too much request weight used; IP banned until {until}. "
            "Please use WebSocket Streams for live updates to avoid bans.",
        }
        return _json(body, 418, used, **{"Retry-After": seconds})
    return _json(ERRORS["rate_limited"][1], 429, used, weight_header, **{"Retry-After": seconds})


def _charge(request: web.Request, weight: int) -> tuple[str, int, float, str]:
    """Charge the request's pool: verdict, weight used there, Retry-After and the header that reports it."""
    state = request.app[STATE]
    path = request.path[len(PREFIX) :]
    if path.startswith("/sapi/"):
        verdict, used, retry_after = state.charge(
            EXCHANGE + path, request.remote or "", weight, state.sapi_weight_per_minute, bans=False
        )
        return verdict, used, retry_after, SAPI_WEIGHT_HEADER
    return (*state.charge(EXCHANGE, request.remote or "", weight), API_WEIGHT_HEADER)


def _render(payload, key: SimKey | None, scoped: bool) -> object:
    if scoped:
        return payload(key)
    return payload() if callable(payload) else payload


async def _signed(request: web.Request, weight: int, payload, scoped: bool = False) -> web.Response:
    """Binance's order of checks: weight budget, API key, mandatory params, signature, time window.

    `scoped`: the key-information endpoint, answering as the key's scope says once the key itself is good."""
    state = request.app[STATE]
    api_key = request.headers.get("X-MBX-APIKEY", "")
    if api_key:
        state.record(EXCHANGE, api_key, request.path[len(PREFIX) :])
    verdict, used, retry_after, header = _charge(request, weight)
    key = state.key(EXCHANGE, api_key)
    await state.pause(key)
    if verdict != "ok":
        return _throttled(verdict, used, retry_after, header)
    error = functools.partial(_error, weight_header=header)
    reply = functools.partial(_json, weight_header=header)
    if not api_key:
        return error("bad_key_format", used)
    if key is None:
        return error("revoked", used)
    scenario = key.next_scenario()
    if scoped and scenario == "valid":
        scenario = key.scope_of("answer")
    if scenario in transport.BEHAVIOURS:  # answered by something in between, before the exchange sees it
        return transport.answer(scenario, json.dumps(_render(payload, key, scoped)))
    if scenario in ("revoked", "bad_key_format"):
        return error(scenario, used)
    signed_text, signature = _signature_payload(request.query_string)
    for name in ("timestamp", "signature"):
        if not request.query.get(name):
            # SPOT_ERRORS -1102 MANDATORY_PARAM_EMPTY_OR_MALFORMED
            body = {"code": -1102, "msg": f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."}
            return reply(body, 400, used)
    expected = hmac.new(key.secret.encode(), signed_text.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, (signature or "").lower()):
        return error("bad_signature", used)
    try:
        timestamp = int(request.query["timestamp"])
        recv_window = int(request.query.get("recvWindow", "5000"))
    except ValueError:
        return reply({"code": -1100, "msg": "Illegal characters found in a parameter."}, 400, used)  # SPOT_ERRORS
    if recv_window > 60000:
        return error("recv_window", used)
    server_ms = _now_ms() + (state.clock_skew_ms if scenario == "clock_skew" else 0)
    if timestamp >= server_ms + 1000 or server_ms - timestamp > recv_window:
        return error("clock_skew", used)
    if scenario == "timeout":
        await state.hang()
        return error("timeout", used)
    if scenario == "malformed":
        return reply({}, used_weight=used)
    if scenario != "valid":
        return error(scenario, used)
    return reply(_render(payload, key, scoped), used_weight=used)


def _api_restrictions(key: SimKey) -> dict:
    """GET /sapi/v1/account/apiRestrictions, field by field as documented (times in ms; the trading authority's
    expiry only when there is one): https://developers.binance.com/docs/wallet/account/api-key-permission"""
    transfer, expires = key.scope_of("transfer"), key.scope_of("expires_at")
    body = {
        "ipRestrict": bool(key.scope_of("ip_allowlist")),
        "createTime": CREATED_MS,
        "enableReading": True,
        "enableWithdrawals": key.scope_of("withdraw"),
        "enableInternalTransfer": transfer,
        "enableMargin": False,
        "enableFutures": False,
        "permitsUniversalTransfer": transfer,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": key.scope_of("trade"),
        "enablePortfolioMarginTrading": False,
    }
    if expires is not None:
        body["tradingAuthorityExpirationTime"] = int(expires * 1000)
    return body


def _account() -> dict:
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "updateTime": _now_ms(),
        "accountType": "SPOT",
        "balances": BALANCES,
        "permissions": ["SPOT"],
    }


def routes() -> list[web.RouteDef]:
    """Every Binance route, under /binance."""

    def public(path: str, weight: int, payload) -> web.RouteDef:
        return web.get(PREFIX + path, functools.partial(_public, weight=weight, payload=payload))

    def signed(path: str, weight: int, payload) -> web.RouteDef:
        return web.get(PREFIX + path, functools.partial(_signed, weight=weight, payload=payload))

    return [
        public("/api/v3/ping", 1, {}),
        public("/api/v3/time", 1, lambda: {"serverTime": _now_ms()}),
        public("/api/v3/exchangeInfo", 20, lambda: _exchange_info(SYMBOLS)),
        public("/fapi/v1/exchangeInfo", 1, lambda: _exchange_info([])),
        public("/dapi/v1/exchangeInfo", 1, lambda: _exchange_info([])),
        signed("/api/v3/account", 20, _account),
        signed("/sapi/v1/capital/config/getall", 10, []),
        signed("/sapi/v1/margin/allPairs", 1, []),
        signed("/sapi/v1/margin/isolated/allPairs", 10, []),
        web.get(
            PREFIX + KEY_INFO_PATH,  # request weight (IP) 1
            functools.partial(_signed, weight=1, payload=_api_restrictions, scoped=True),
        ),
    ]
