"""Coinbase as the simulator speaks it: GET /v2/accounts (what ccxt's fetch_balance calls), Advanced Trade's
GET /api/v3/brokerage/accounts and GET /api/v3/brokerage/key_permissions.

Auth (https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/api-key-authentication): a CDP
key ("organizations/{org}/apiKeys/{id}", an EC private key) signs a bearer JWT ES256, `kid` = `sub` = key name,
`nbf`/`exp` two minutes apart, `uri` = "METHOD host/path". Legacy HMAC keys (CB-ACCESS-*) no longer work."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
import uuid

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from credential_health.sandbox import key_scope, transport
from credential_health.sandbox.keys import STATE, SimKey

EXCHANGE = "coinbase"
PREFIX = "/coinbase"
# ccxt's issuer is "coinbase-cloud" (audience retail_rest_api_proxy); Coinbase's current samples send "cdp"
ISSUERS = ("cdp", "coinbase-cloud")
# ccxt's fetch_balance calls the Coinbase App API, GET /v2/accounts: its errors are {"errors": [{"id", "message"}]}
# with the ids and statuses of https://docs.cdp.coinbase.com/coinbase-app/api-architecture/error-messages
V2_ERRORS: dict[str, tuple[int, str, str]] = {
    "revoked": (401, "authentication_error", "Invalid auth (generic)"),
    "bad_key_format": (401, "authentication_error", "Invalid auth (generic)"),
    "bad_signature": (401, "authentication_error", "Invalid auth (generic)"),
    # the body ccxt's coinbase quotes for a stale timestamp (its id matches first: AuthenticationError)
    "clock_skew": (401, "authentication_error", "request timestamp expired"),
    "permission_denied": (403, "invalid_scope", "User hasn't authenticated necessary scope"),
    "suspended": (401, "invalid_authentication_method", "API access is blocked for deleted users."),
    # https://docs.cdp.coinbase.com/coinbase-app/api-architecture/rate-limiting (body quoted from the page)
    "rate_limited": (429, "rate_limit_exceeded", "Too many requests"),
    "server_error": (500, "internal_server_error", "Internal server error"),
}
# The Advanced Trade API (/api/v3/brokerage/...) differs in two answers: a failed JWT gets a bare 401
# "Unauthorized" text (no code; ccxt raises AuthenticationError from the status, github.com/ccxt/ccxt/issues/22182),
# and a missing scope its grpc-gateway error (the OpenAPI's grpc.gateway.runtime.Error) with PERMISSION_DENIED.
V3_UNAUTHENTICATED = ("revoked", "bad_key_format", "bad_signature", "clock_skew", "suspended")
KEY_INFO_PATH = "/api/v3/brokerage/key_permissions"  # what the scope probe asks

V3_PERMISSION_DENIED = {
    "error": "PERMISSION_DENIED",
    "error_details": "Missing required scopes",
    "message": "Missing required scopes",
}
ACCOUNTS = (("BTC", "0.5"), ("USD", "1000"))
STAMP = "2024-01-01T00:00:00Z"


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json")


def _text(status: int, text: str, content_type: str = "text/plain") -> web.Response:
    return web.Response(text=text, status=status, content_type=content_type)


def _error(api: str, name: str) -> web.Response:
    """The scripted failure as the v2 (Coinbase App) or v3 (Advanced Trade) API answers it."""
    if name == "timeout":  # the hang ended at Coinbase's edge before the client gave up
        return _text(504, "<html><body><h1>504 Gateway Time-out</h1></body></html>", "text/html")
    # https://docs.cdp.coinbase.com/coinbase-app/api-architecture/status-codes: 503 "down for maintenance"
    if name == "maintenance":
        return _text(503, "Service Unavailable")
    if api == "v3" and name in V3_UNAUTHENTICATED:
        return _text(401, "Unauthorized\n")
    if api == "v3" and name == "permission_denied":
        return _json(V3_PERMISSION_DENIED, 403)
    status, error_id, message = V2_ERRORS[name]
    return _json({"errors": [{"id": error_id, "message": message}]}, status)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwt_parts(authorization: str) -> tuple[dict, dict, bytes, bytes] | None:
    """Header, claims, signed bytes and raw signature of a bearer JWT, or None when it is not one."""
    if not authorization.startswith("Bearer "):
        return None
    parts = authorization[len("Bearer ") :].split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = json.loads(_b64url(parts[0])), json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), signature


def signature_ok(key: SimKey, signed: bytes, signature: bytes) -> bool:
    """ES256: the raw r||s signature verified with the public half of the key's EC private key."""
    try:
        private = serialization.load_pem_private_key(key.secret.encode(), password=None)
    except (ValueError, TypeError):
        return False
    if not isinstance(private, ec.EllipticCurvePrivateKey) or len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        private.public_key().verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def expected_uri(request: web.Request) -> str:
    """The `uri` claim for this request: "GET host/path" (ccxt strips only an https:// scheme, so against the
    plain-HTTP simulator it leaves "http://" in: that prefix is accepted, nothing else differs)."""
    return f"{request.method} {request.host}{request.path}"


def _fresh(claims: dict, now: float) -> bool | None:
    """Whether `now` lies in [nbf, exp) (None: the claims are missing or not numbers)."""
    try:
        return float(claims["nbf"]) <= now < float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        return None


def _claims_ok(header: dict, claims: dict, request: web.Request, now: float) -> bool:
    uri = str(claims.get("uri", "")).replace(f"{request.method} http://", f"{request.method} ", 1)
    return (
        header.get("alg") == "ES256"
        and header.get("kid") == claims.get("sub")
        and claims.get("iss") in ISSUERS
        and _fresh(claims, now) is True
        and uri == expected_uri(request)
    )


def _jwt_failure(request: web.Request, parsed: tuple, key: SimKey, now: float) -> str | None:
    header, claims, signed, signature = parsed
    if not signature_ok(key, signed, signature):
        return "bad_signature"
    if not _claims_ok(header, claims, request, now):
        return "clock_skew" if _fresh(claims, now) is False else "bad_signature"
    return None


async def _private(request: web.Request, api: str, payload, scoped: bool = False) -> web.Response:
    """Coinbase's order: per-IP budget, credential and key, signature, time window, then the scripted behaviour."""
    state = request.app[STATE]
    parsed = _jwt_parts(request.headers.get("Authorization", ""))
    api_key = str(parsed[1].get("sub", "")) if parsed else request.headers.get("CB-ACCESS-KEY", "")
    refusal, key = await key_scope.admit(request, EXCHANGE, PREFIX, api_key, lambda _: _error(api, "rate_limited"))
    if refusal is not None:
        return refusal
    # Coinbase documents no expiry answer (key_permissions reports none): an expired key no longer authenticates.
    if key is None or key_scope.expired(key):
        return _error(api, "revoked")
    scenario = key_scope.scenario(key, scoped)
    body = payload(key) if callable(payload) else payload
    if scenario in transport.BEHAVIOURS:  # answered by something in between, before the exchange sees it
        return transport.answer(scenario, json.dumps(body))
    if scenario in ("revoked", "bad_key_format"):
        return _error(api, scenario)
    if parsed is None:  # a legacy CB-ACCESS-* HMAC key: Coinbase expired them all in February 2025
        return _error(api, "revoked")  # docs.cdp.coinbase.com/coinbase-app/authentication-authorization/legacy-keys
    now = time.time() + (state.clock_skew_ms / 1000 if scenario == "clock_skew" else 0)
    failure = _jwt_failure(request, parsed, key, now)
    if failure is not None:
        return _error(api, failure)
    if not key_scope.ip_allowed(key, request.remote):  # a key's IP allowlist: the key does not authenticate
        return _error(api, "revoked")
    if scenario == "timeout":
        await state.hang()
    if scenario == "malformed":
        return _json({})  # a success without the documented fields
    if scenario != "valid":
        return _error(api, scenario)
    return _json(body)


def _id(key: SimKey, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key.api_key}/{name}"))


def v2_accounts(key: SimKey) -> dict:
    """List Accounts of the Coinbase App API (https://docs.cdp.coinbase.com/coinbase-app/track-apis/accounts),
    what ccxt 4.5.90's fetch_balance calls by default (options['fetchBalance'] = 'v2PrivateGetAccounts')."""
    data = [
        {
            "id": _id(key, currency),
            "name": f"{currency} Wallet",
            "primary": currency == "BTC",
            "type": "fiat" if currency == "USD" else "wallet",
            "currency": {"code": currency, "name": currency, "type": "fiat" if currency == "USD" else "crypto"},
            "balance": {"amount": value, "currency": currency},
            "created_at": STAMP,
            "updated_at": STAMP,
            "resource": "account",
            "resource_path": f"/v2/accounts/{_id(key, currency)}",
            "allow_deposits": True,
            "allow_withdrawals": True,
        }
        for currency, value in ACCOUNTS
    ]
    pagination = {
        "ending_before": None,
        "starting_after": None,
        "previous_ending_before": None,
        "next_starting_after": None,
        "limit": 250,
        "order": "desc",
        "previous_uri": None,
        "next_uri": None,
    }
    return {"pagination": pagination, "data": data}


def v3_accounts(key: SimKey) -> dict:
    """List Accounts of Advanced Trade
    (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/accounts/list-accounts)."""
    accounts = [
        {
            "uuid": _id(key, currency),
            "name": f"{currency} Wallet",
            "currency": currency,
            "available_balance": {"value": value, "currency": currency},
            "default": True,
            "active": True,
            "created_at": STAMP,
            "updated_at": STAMP,
            "deleted_at": None,
            "type": "ACCOUNT_TYPE_FIAT" if currency == "USD" else "ACCOUNT_TYPE_CRYPTO",
            "ready": True,
            "hold": {"value": "0", "currency": currency},
            "retail_portfolio_id": _portfolio(key),
            "platform": "",
        }
        for currency, value in ACCOUNTS
    ]
    return {"accounts": accounts, "has_next": False, "cursor": "", "size": len(accounts)}


def _portfolio(key: SimKey) -> str:
    return _id(key, "portfolio")


def key_permissions(key: SimKey) -> dict:
    """Get API Key Permissions (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/data-api/
    get-api-key-permissions): view/trade/transfer flags and the key's portfolio; no IP list, no expiry."""
    return {
        "can_view": True,
        "can_trade": key_scope.can(key, "trade"),
        "can_transfer": key_scope.can(key, "transfer") or key_scope.can(key, "withdraw"),
        "portfolio_uuid": _portfolio(key),
        "portfolio_type": "DEFAULT",
    }


def routes() -> list[web.RouteDef]:
    """Every Coinbase route, under /coinbase."""

    def private(api: str, path: str, payload, scoped: bool = False) -> web.RouteDef:
        return web.get(PREFIX + path, functools.partial(_private, api=api, payload=payload, scoped=scoped))

    return [
        private("v2", "/v2/accounts", v2_accounts),
        private("v3", "/api/v3/brokerage/accounts", v3_accounts),
        private("v3", KEY_INFO_PATH, key_permissions, scoped=True),
    ]
