"""Bybit v5 REST as the simulator speaks it: signed GET /v5/account/wallet-balance and /v5/user/query-api."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone

from aiohttp import web

from credential_health.sandbox import key_scope, transport
from credential_health.sandbox.keys import STATE, SimKey

EXCHANGE = "bybit"
PREFIX = "/bybit"
KEY_INFO_PATH = "/v5/user/query-api"  # what the scope probe asks

# Bybit answers {"retCode", "retMsg", "result", "retExtInfo", "time"}; codes and texts from its error page
# (https://bybit-exchange.github.io/docs/v5/error). Its HTTP Code table gives 401 for requests that need "the
# correct key" (10003, 10004); other API errors come with HTTP 200 and the code in the body.
ERRORS_PAGE = "https://bybit-exchange.github.io/docs/v5/error"
ERRORS: dict[str, tuple[int, int, str]] = {
    "revoked": (401, 10003, "API key is invalid."),
    "bad_key_format": (401, 10003, "API key is invalid."),
    "bad_signature": (401, 10004, "Error sign, please check your signature generation algorithm."),
    "permission_denied": (200, 10005, "Permission denied, please check your API key permissions."),
    "suspended": (200, 10008, "Common banned, please check your account mode"),
    # https://bybit-exchange.github.io/docs/v5/rate-limit: retCode 10006 is the per-UID API rate limit
    "rate_limited": (200, 10006, "Too many visits. Exceeded the API Rate Limit."),
    "server_error": (200, 10016, "Server error."),
    "maintenance": (200, 10016, "Service is restarting"),  # the error page: 10016 is also "Service is restarting"
    "timeout": (200, 10000, "Server Timeout"),
    "clock_skew": (200, 10002, "The request time exceeds the time window range."),
    "expired": (200, 33004, "Your api key has expired"),
    "ip_mismatch": (200, 10010, "Unmatched IP, please check your API key's bound IP addresses."),
    "bad_params": (200, 10001, "Request parameter error"),
}
# https://bybit-exchange.github.io/docs/v5/guide: server_time - recv_window <= timestamp < server_time + 1000
FUTURE_TOLERANCE_MS = 1000
EPOCH = "1970-01-01T00:00:00Z"  # query-api's expiredAt for a key that does not expire (IP bound)

COINS = [("BTC", "0.5"), ("USDT", "1000")]


def _body(code: int, message: str, result: object) -> dict:
    return {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {}, "time": int(time.time() * 1000)}


def _json(body: dict, status: int = 200, **headers: str) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json", headers=headers)


def _error(name: str) -> web.Response:
    status, code, message = ERRORS[name]
    headers = {}
    if name == "rate_limited":  # the rate-limit page's response headers
        headers = {
            "X-Bapi-Limit": "50",
            "X-Bapi-Limit-Status": "0",
            "X-Bapi-Limit-Reset-Timestamp": str(int(time.time() * 1000) + 1000),
        }
    return _json(_body(code, message, {}), status, **headers)


def expected_signature(secret: str, timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    """X-BAPI-SIGN: hex HMAC-SHA256 of timestamp + api_key + recv_window + (queryString | jsonBody)."""
    message = (timestamp + api_key + recv_window + payload).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _wallet_balance(key: SimKey) -> dict:
    """GET /v5/account/wallet-balance?accountType=UNIFIED
    (https://bybit-exchange.github.io/docs/v5/account/wallet-balance)."""
    coins = [
        {
            "coin": coin,
            "equity": amount,
            "usdValue": amount,
            "walletBalance": amount,
            "locked": "0",
            "borrowAmount": "0",
            "accruedInterest": "0",
            "totalOrderIM": "0",
            "totalPositionIM": "0",
            "totalPositionMM": "0",
            "unrealisedPnl": "0",
            "cumRealisedPnl": "0",
            "bonus": "0",
            "marginCollateral": True,
            "collateralSwitch": True,
            "spotBorrow": "0",
        }
        for coin, amount in COINS
    ]
    return {
        "list": [
            {
                "accountType": "UNIFIED",
                "accountIMRate": "0",
                "accountMMRate": "0",
                "totalEquity": "25000",
                "totalWalletBalance": "25000",
                "totalMarginBalance": "25000",
                "totalAvailableBalance": "25000",
                "totalPerpUPL": "0",
                "totalInitialMargin": "0",
                "totalMaintenanceMargin": "0",
                "accountLTV": "0",
                "coin": coins,
            }
        ]
    }


def _query_api(key: SimKey) -> dict:
    """GET /v5/user/query-api (https://bybit-exchange.github.io/docs/v5/user/apikey-info)."""
    trade, withdraw, transfer = (key_scope.can(key, name) for name in ("trade", "withdraw", "transfer"))
    wallet = (["AccountTransfer", "SubMemberTransfer"] if transfer else []) + (["Withdraw"] if withdraw else [])
    expires = key_scope.expires_at(key)
    if expires is None:
        deadline_day, expired_at = -2, EPOCH
    else:
        deadline_day = max((expires - datetime.now(timezone.utc)).days, 0)
        expired_at = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    user_id = int(hashlib.sha256(key.api_key.encode()).hexdigest()[:8], 16)
    return {
        "id": str(user_id % 10_000_000),
        "note": "credential-health",
        "apiKey": key.api_key,
        "readOnly": 0 if (trade or withdraw or transfer) else 1,
        "secret": "",
        "permissions": {
            "ContractTrade": ["Order", "Position"] if trade else [],
            "Spot": ["SpotTrade"] if trade else [],
            "Wallet": wallet,
            "Options": ["OptionsTrade"] if trade else [],
            "Derivatives": ["DerivativesTrade"] if trade else [],
            "Exchange": ["ExchangeHistory"],
            "Earn": [],
            "NFT": [],
            "CopyTrading": [],
            "BlockTrade": [],
            "Affiliate": [],
            "FiatP2P": [],
            "FiatBitPay": [],
            "FiatConvertBroker": [],
            "BitCard": [],
            "ByXPost": [],
        },
        "ips": key_scope.ip_allowlist(key) or ["*"],
        "type": 1,
        "deadlineDay": deadline_day,
        "expiredAt": expired_at,
        "createdAt": "2026-01-05T09:30:00Z",
        "unified": 0,
        "uta": 1,
        "userID": user_id,
        "inviterID": 0,
        "vipLevel": "No VIP",
        "mktMakerLevel": "0",
        "affiliateID": 0,
        "rsaPublicKey": "",
        "isMaster": True,
        "parentUid": "0",
        "kycLevel": "LEVEL_1",
        "kycRegion": "",
    }


def _account_info(key: SimKey) -> dict:
    """GET /v5/account/info (https://bybit-exchange.github.io/docs/v5/account/account-info): a UTA 2.0 account."""
    return {
        "unifiedMarginStatus": 6,
        "marginMode": "REGULAR_MARGIN",
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
        "updatedTime": str(int(time.time() * 1000)),
        "dcpStatus": "OFF",
        "timeWindow": 10,
        "smpGroup": 0,
    }


def _throttled(verdict: str) -> web.Response | None:
    """Over the per-IP limit: the rate-limit page's "403, access too frequent" (not a retCode answer)."""
    if verdict == "ok":
        return None
    return web.Response(text="access too frequent", status=403, content_type="text/plain")


async def _private(request: web.Request, payload, required: dict[str, str], scoped: bool = False) -> web.Response:
    """Bybit's checks, in order: IP limit, key, timestamp window, signature, expiry, bound IPs, behaviour."""
    state = request.app[STATE]
    api_key = request.headers.get("X-BAPI-API-KEY", "")
    refusal, key = await key_scope.admit(request, EXCHANGE, PREFIX, api_key, _throttled)
    if refusal is not None:
        return refusal
    if key is None:
        return _error("revoked")
    scenario = key_scope.scenario(key, scoped)
    if scenario in transport.BEHAVIOURS:  # answered by something in between, before the exchange sees it
        return transport.answer(scenario, json.dumps(_body(0, "OK", payload(key))))
    if scenario in ("revoked", "bad_key_format"):
        return _error(scenario)
    timestamp = request.headers.get("X-BAPI-TIMESTAMP", "")
    recv_window = request.headers.get("X-BAPI-RECV-WINDOW", "5000")
    if not timestamp.isdigit() or not recv_window.isdigit():
        return _error("bad_params")
    server_ms = int(time.time() * 1000) + (state.clock_skew_ms if scenario == "clock_skew" else 0)
    if not server_ms - int(recv_window) <= int(timestamp) < server_ms + FUTURE_TOLERANCE_MS:
        return _error("clock_skew")
    signed = request.query_string if request.method == "GET" else (await request.read()).decode()
    expected = expected_signature(key.secret, timestamp, api_key, recv_window, signed)
    if not hmac.compare_digest(expected, request.headers.get("X-BAPI-SIGN", "").lower()):
        return _error("bad_signature")
    if any(request.query.get(name) != value for name, value in required.items()):
        return _error("bad_params")
    if key_scope.expired(key):
        return _error("expired")
    if not key_scope.ip_allowed(key, request.remote):
        return _error("ip_mismatch")
    if scenario == "timeout":
        await state.hang()
        return _error("timeout")
    if scenario == "malformed":
        return _json(_body(0, "OK", {}))  # a success whose result lacks the documented fields
    if scenario != "valid":
        return _error(scenario)
    return _json(_body(0, "OK", payload(key)))


async def _time(request: web.Request) -> web.Response:
    state = request.app[STATE]
    throttled = _throttled(state.charge(EXCHANGE, request.remote or "", 1)[0])
    now = time.time()
    return throttled or _json(_body(0, "OK", {"timeSecond": str(int(now)), "timeNano": str(int(now * 1e9))}))


def routes() -> list[web.RouteDef]:
    """Every Bybit route, under /bybit."""

    def private(path: str, payload, scoped: bool = False, **required: str) -> web.RouteDef:
        return web.get(PREFIX + path, functools.partial(_private, payload=payload, required=required, scoped=scoped))

    return [
        web.get(PREFIX + "/v5/market/time", _time),
        private("/v5/account/wallet-balance", _wallet_balance, accountType="UNIFIED"),  # its only account type
        private(KEY_INFO_PATH, _query_api, scoped=True),
        private("/v5/account/info", _account_info),
    ]
