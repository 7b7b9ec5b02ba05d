"""OKX v5 REST as the simulator speaks it: signed GET /api/v5/account/balance and /api/v5/account/config."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone

from aiohttp import web

from credential_health.sandbox import key_scope, transport
from credential_health.sandbox.keys import STATE, SimKey

EXCHANGE = "okx"
PREFIX = "/okx"
KEY_INFO_PATH = "/api/v5/account/config"  # what the scope probe asks

# OKX answers {"code": "<code>", "msg": "...", "data": []} with the HTTP status its error table gives each code:
ERRORS_PAGE = "https://www.okx.com/docs-v5/en/#error-code-rest-api-public"
ERRORS: dict[str, tuple[int, str, str]] = {
    "revoked": (401, "50111", "Invalid OK-ACCESS-KEY."),  # a deleted key (OKX also deletes expired ones)
    "bad_key_format": (401, "50111", "Invalid OK-ACCESS-KEY."),
    "bad_signature": (401, "50113", "Invalid signature."),
    "bad_passphrase": (401, "50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.'),
    "permission_denied": (200, "50120", "This API key doesn't have permission to use this function"),
    "suspended": (200, "50007", "User blocked."),
    "rate_limited": (429, "50011", "Too Many Requests"),
    "server_error": (500, "50026", "System error. Try again later"),
    "maintenance": (503, "50001", "Service temporarily unavailable. Please try again later."),
    "clock_skew": (401, "50102", "Timestamp request expired."),
    "timeout": (
        400,
        "50004",
        "API endpoint request timeout. (does not mean that the request was successful or "
        "failed, please check the request result).",
    ),
    "bad_timestamp": (401, "50112", "Invalid OK-ACCESS-TIMESTAMP."),
}
# Headers OKX requires on private calls beside OK-ACCESS-KEY (50103), with the error for each one missing.
REQUIRED = (("OK-ACCESS-PASSPHRASE", "50104"), ("OK-ACCESS-SIGN", "50106"), ("OK-ACCESS-TIMESTAMP", "50107"))
# REST authentication (https://www.okx.com/docs-v5/en/#overview-rest-authentication): a request whose
# OK-ACCESS-TIMESTAMP is more than 30 seconds away from the server's time has expired.
EXPIRY_SECONDS = 30.0

BALANCES = [("BTC", "0.5"), ("USDT", "1000")]


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


def _error(name: str) -> web.Response:
    status, code, message = ERRORS[name]
    return _json({"code": code, "msg": message, "data": []}, status)


def _coded(status: int, code: str, message: str) -> web.Response:
    return _json({"code": code, "msg": message, "data": []}, status)


def _ok(data: list) -> web.Response:
    return _json({"code": "0", "msg": "", "data": data})


def expected_signature(secret: str, timestamp: str, method: str, request_path: str, body: str) -> str:
    """OK-ACCESS-SIGN: base64(HMAC-SHA256(secret, timestamp + method + requestPath + body)), requestPath with
    its query string (https://www.okx.com/docs-v5/en/#overview-rest-authentication-signature)."""
    message = (timestamp + method.upper() + request_path + body).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _parse_timestamp(raw: str) -> datetime | None:
    """OK-ACCESS-TIMESTAMP is ISO 8601 UTC with milliseconds, e.g. 2020-12-08T09:08:57.715Z."""
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _balance(key: SimKey) -> list:
    now_ms = str(int(time.time() * 1000))
    details = [
        {
            "ccy": ccy,
            "eq": amount,
            "cashBal": amount,
            "availBal": amount,
            "frozenBal": "0",
            "ordFrozen": "0",
            "availEq": "",
            "disEq": amount,
            "uTime": now_ms,
        }
        for ccy, amount in BALANCES
    ]
    return [
        {
            "adjEq": "",
            "imr": "",
            "isoEq": "0",
            "mgnRatio": "",
            "mmr": "",
            "notionalUsd": "",
            "ordFroz": "",
            "totalEq": "25000",
            "uTime": now_ms,
            "upl": "",
            "details": details,
        }
    ]


def _config(key: SimKey) -> list:
    """GET /api/v5/account/config (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-account-configuration):
    `perm` lists read_only, trade and withdraw; `ip` is comma-separated ("" when no IP is bound)."""
    perm = ["read_only"] + [name for name in ("withdraw", "trade") if key_scope.can(key, name)]
    uid = str(int(hashlib.sha256(key.api_key.encode()).hexdigest()[:13], 16))
    return [
        {
            "acctLv": "1",
            "acctStpMode": "cancel_maker",
            "autoLoan": False,
            "ctIsoMode": "automatic",
            "enableSpotBorrow": False,
            "greeksType": "PA",
            "ip": ",".join(key_scope.ip_allowlist(key)),
            "type": "0",
            "kycLv": "2",
            "label": "credential-health",
            "level": "Lv1",
            "levelTmp": "",
            "liquidationGear": "-1",
            "mainUid": uid,
            "mgnIsoMode": "automatic",
            "opAuth": "0",
            "perm": ",".join(perm),
            "posMode": "net_mode",
            "roleType": "0",
            "spotBorrowAutoRepay": False,
            "spotRoleType": "0",
            "spotTraderInsts": [],
            "traderInsts": [],
            "uid": uid,
        }
    ]


def _throttled(verdict: str) -> web.Response | None:
    return _error("rate_limited") if verdict != "ok" else None


async def _private(request: web.Request, payload, scoped: bool = False) -> web.Response:
    """OKX's checks, in order: rate limit, headers, key, signature, passphrase, timestamp, IP, then behaviour."""
    state = request.app[STATE]
    api_key = request.headers.get("OK-ACCESS-KEY", "")
    refusal, key = await key_scope.admit(request, EXCHANGE, PREFIX, api_key, _throttled)
    if refusal is not None:
        return refusal
    if not api_key:
        return _coded(401, "50103", 'Request header "OK-ACCESS-KEY" cannot be empty.')
    if key is None or key_scope.expired(key):  # OKX deletes expired keys: they no longer exist
        return _error("revoked")
    scenario = key_scope.scenario(key, scoped)
    if scenario in transport.BEHAVIOURS:  # answered by something in between, before the exchange sees it
        return transport.answer(scenario, json.dumps({"code": "0", "msg": "", "data": payload(key)}))
    if scenario in ("revoked", "bad_key_format"):
        return _error(scenario)
    for header, code in REQUIRED:
        if not request.headers.get(header):
            return _coded(401, code, f'Request header "{header}" cannot be empty.')
    raw_timestamp = request.headers["OK-ACCESS-TIMESTAMP"]
    sent_at = _parse_timestamp(raw_timestamp)
    if sent_at is None:
        return _error("bad_timestamp")
    body = (await request.read()).decode()
    expected = expected_signature(key.secret, raw_timestamp, request.method, request.raw_path[len(PREFIX) :], body)
    if not hmac.compare_digest(expected, request.headers["OK-ACCESS-SIGN"]):
        return _error("bad_signature")
    if not hmac.compare_digest(key.passphrase.encode(), request.headers["OK-ACCESS-PASSPHRASE"].encode()):
        return _error("bad_passphrase")
    server_s = time.time() + (state.clock_skew_ms / 1000 if scenario == "clock_skew" else 0)
    if abs(server_s - sent_at.timestamp()) > EXPIRY_SECONDS:
        return _error("clock_skew")
    if not key_scope.ip_allowed(key, request.remote):
        return _coded(401, "50110", f"Your IP {request.remote} is not included in your API key's IP whitelist.")
    if scenario == "timeout":
        await state.hang()
        return _error("timeout")
    if scenario == "malformed":
        return _ok([])  # a success without the one configuration object
    if scenario != "valid":
        return _error(scenario)
    return _ok(payload(key))


async def _time(request: web.Request) -> web.Response:
    state = request.app[STATE]
    throttled = _throttled(state.charge(EXCHANGE, request.remote or "", 1)[0])
    return throttled or _ok([{"ts": str(int(time.time() * 1000))}])


def routes() -> list[web.RouteDef]:
    """Every OKX route, under /okx."""

    def private(path: str, payload, scoped: bool = False) -> web.RouteDef:
        return web.get(PREFIX + path, functools.partial(_private, payload=payload, scoped=scoped))

    return [
        web.get(PREFIX + "/api/v5/public/time", _time),
        private("/api/v5/account/balance", _balance),
        private(KEY_INFO_PATH, _config, scoped=True),
    ]


def now_iso() -> str:
    """The current time as OKX's OK-ACCESS-TIMESTAMP format (tests sign requests by hand with it)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
