"""Coinbase's and KuCoin's wire protocol in the simulator, spoken by hand: JWT claims and signature, KC-API
headers, time windows, IP allowlists and the documented error bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def coinbase_jwt(key_name: str, pem: str, method: str, url: str, **overrides) -> str:
    """A CDP bearer JWT as Coinbase documents it (ES256, kid = sub = key name, uri = "METHOD host/path")."""
    now = int(time.time())
    parts = urlsplit(url)
    claims = {
        "iss": "cdp",
        "sub": key_name,
        "nbf": now,
        "exp": now + 120,
        "uri": f"{method} {parts.netloc}{parts.path}",
        **overrides,
    }
    header = {"alg": "ES256", "typ": "JWT", "kid": claims.pop("kid", key_name), "nonce": secrets.token_hex(16)}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def coinbase_get(sim, path: str, key_name: str, pem: str, **overrides) -> httpx.Response:
    url = sim.urls["coinbase"] + path
    token = coinbase_jwt(key_name, pem, "GET", url, **overrides)
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def other_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        .decode()
    )


def test_coinbase_v2_accounts_with_a_valid_jwt(exchange_simulator, sim_credential):
    key = sim_credential("coinbase")
    response = coinbase_get(exchange_simulator, "/v2/accounts", key.api_key, key.secret)
    assert response.status_code == 200
    assert {a["balance"]["currency"]: a["balance"]["amount"] for a in response.json()["data"]} == {
        "BTC": "0.5",
        "USD": "1000",
    }
    [request] = exchange_simulator.requests(api_key=key.api_key)
    assert (request.exchange, request.path) == ("coinbase", "/v2/accounts")


@pytest.mark.parametrize(
    ("case", "error_id", "message"),
    [
        ("other-private-key", "authentication_error", "Invalid auth (generic)"),
        ("expired", "authentication_error", "request timestamp expired"),
        ("not-yet-valid", "authentication_error", "request timestamp expired"),
        ("uri-of-another-path", "authentication_error", "Invalid auth (generic)"),
        ("kid-differs-from-sub", "authentication_error", "Invalid auth (generic)"),
        ("unknown-issuer", "authentication_error", "Invalid auth (generic)"),
        ("unknown-key", "authentication_error", "Invalid auth (generic)"),
    ],
)
def test_coinbase_v2_rejections(exchange_simulator, sim_credential, case, error_id, message):
    key = sim_credential("coinbase")
    now = int(time.time())
    name, pem, overrides = key.api_key, key.secret, {}
    if case == "other-private-key":
        pem = other_pem()
    elif case == "expired":
        overrides = {"nbf": now - 300, "exp": now - 180}
    elif case == "not-yet-valid":
        overrides = {"nbf": now + 300, "exp": now + 420}
    elif case == "uri-of-another-path":
        overrides = {"uri": f"GET {urlsplit(exchange_simulator.base_url).netloc}/coinbase/v2/user"}
    elif case == "kid-differs-from-sub":
        overrides = {"kid": "organizations/x/apiKeys/other"}
    elif case == "unknown-issuer":
        overrides = {"iss": "someone-else"}
    elif case == "unknown-key":
        name = "organizations/x/apiKeys/never-registered"
    response = coinbase_get(exchange_simulator, "/v2/accounts", name, pem, **overrides)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"id": error_id, "message": message}]}


def test_coinbase_without_a_bearer_token(exchange_simulator):
    v2 = httpx.get(exchange_simulator.urls["coinbase"] + "/v2/accounts", timeout=5)
    v3 = httpx.get(exchange_simulator.urls["coinbase"] + "/api/v3/brokerage/accounts", timeout=5)
    assert (v2.status_code, v2.json()["errors"][0]["id"]) == (401, "authentication_error")
    assert (v3.status_code, v3.text.strip(), v3.headers["Content-Type"].split(";")[0]) == (
        401,
        "Unauthorized",
        "text/plain",
    )


def test_coinbase_advanced_trade_accounts_and_permission_denied(exchange_simulator, sim_credential):
    key = sim_credential("coinbase")
    response = coinbase_get(exchange_simulator, "/api/v3/brokerage/accounts", key.api_key, key.secret)
    assert response.status_code == 200 and response.json()["has_next"] is False
    assert {a["currency"] for a in response.json()["accounts"]} == {"BTC", "USD"}
    denied = sim_credential("coinbase", "permission_denied")
    response = coinbase_get(exchange_simulator, "/api/v3/brokerage/key_permissions", denied.api_key, denied.secret)
    assert (response.status_code, response.json()["error"]) == (403, "PERMISSION_DENIED")


def test_coinbase_key_outside_its_ip_allowlist_does_not_authenticate(exchange_simulator, sim_credential):
    key = sim_credential("coinbase", scope={"trade": True, "ip_allowlist": ["203.0.113.7"]})
    response = coinbase_get(exchange_simulator, "/api/v3/brokerage/key_permissions", key.api_key, key.secret)
    assert (response.status_code, response.text.strip()) == (401, "Unauthorized")
    allowed = sim_credential("coinbase", scope={"trade": True, "ip_allowlist": ["127.0.0.1"]})
    assert coinbase_get(exchange_simulator, "/v2/accounts", allowed.api_key, allowed.secret).status_code == 200


def kucoin_get(
    sim,
    endpoint: str,
    api_key: str,
    secret: str,
    passphrase: str,
    version: str = "2",
    timestamp: int | None = None,
    sign_endpoint: str | None = None,
    drop: str = "",
) -> httpx.Response:
    """A signed KuCoin GET: KC-API-SIGN over timestamp + method + endpoint (with its query) + body."""
    stamp = str(timestamp if timestamp is not None else int(time.time() * 1000))
    signed = stamp + "GET" + (sign_endpoint or endpoint)
    sign = base64.b64encode(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()).decode()
    if version == "1":
        phrase = passphrase
    else:
        phrase = base64.b64encode(hmac.new(secret.encode(), passphrase.encode(), hashlib.sha256).digest()).decode()
    headers = {
        "KC-API-KEY": api_key,
        "KC-API-SIGN": sign,
        "KC-API-TIMESTAMP": stamp,
        "KC-API-PASSPHRASE": phrase,
        "KC-API-KEY-VERSION": version,
    }
    headers.pop(drop, None)
    return httpx.get(sim.urls["kucoin"] + endpoint, headers=headers, timeout=5)


@pytest.mark.parametrize("version", ["1", "2", "3"])
def test_kucoin_accounts_with_a_correct_signature(exchange_simulator, sim_credential, version):
    key = sim_credential("kucoin")
    response = kucoin_get(
        exchange_simulator, "/api/v1/accounts?type=trade", key.api_key, key.secret, key.password, version
    )
    assert response.status_code == 200 and response.json()["code"] == "200000"
    assert {(a["currency"], a["type"], a["balance"]) for a in response.json()["data"]} == {
        ("BTC", "trade", "0.5"),
        ("USDT", "trade", "1000"),
    }
    empty = kucoin_get(exchange_simulator, "/api/v1/accounts?type=main", key.api_key, key.secret, key.password)
    assert empty.json() == {"code": "200000", "data": []}


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("wrong-secret", 401, "400004"),  # the passphrase is an HMAC under the secret: it fails first
        ("wrong-passphrase", 401, "400004"),
        ("query-not-signed", 401, "400005"),
        ("old-timestamp", 401, "400002"),
        ("future-timestamp", 401, "400002"),
        ("unknown-key", 401, "400003"),
        ("no-sign-header", 401, "400001"),
        ("unknown-key-version", 401, "400009"),
    ],
)
def test_kucoin_rejections(exchange_simulator, sim_credential, case, status, code):
    key = sim_credential("kucoin")
    endpoint = "/api/v1/accounts?type=trade"
    args = {"api_key": key.api_key, "secret": key.secret, "passphrase": key.password}
    now = int(time.time() * 1000)
    extra = {
        "wrong-secret": {"secret": "another-secret"},
        "wrong-passphrase": {"passphrase": "guess"},
        "query-not-signed": {"sign_endpoint": "/api/v1/accounts"},
        "old-timestamp": {"timestamp": now - 6000},
        "future-timestamp": {"timestamp": now + 6000},
        "unknown-key": {"api_key": "never-registered"},
        "no-sign-header": {"drop": "KC-API-SIGN"},
        "unknown-key-version": {"version": "7"},
    }[case]
    response = kucoin_get(exchange_simulator, endpoint, **{**args, **extra})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert isinstance(response.json()["msg"], str)


def test_kucoin_ip_whitelist(exchange_simulator, sim_credential):
    key = sim_credential("kucoin", scope={"trade": True, "ip_allowlist": ["203.0.113.7"]})
    response = kucoin_get(exchange_simulator, "/api/v1/accounts", key.api_key, key.secret, key.password)
    assert (response.status_code, response.json()["code"]) == (403, "400006")
    assert "127.0.0.1" in response.json()["msg"]  # KuCoin names the address it saw


def test_keys_with_passphrase_and_scope_registered_over_http(exchange_simulator):
    """The control API takes KuCoin's passphrase and a key's scope, and never lists a passphrase or secret."""
    key = {
        "exchange": "kucoin",
        "api_key": "kc-control-key",
        "secret": "kc-control-secret",
        "passphrase": "kc-control-passphrase",
        "scope": {"trade": True, "ip_allowlist": ["127.0.0.1"]},
    }
    assert httpx.post(exchange_simulator.base_url + "/__sim/keys", json=key, timeout=5).json() == {"registered": 1}
    listed = httpx.get(exchange_simulator.base_url + "/__sim/keys", timeout=5).json()
    [entry] = [entry for entry in listed if entry["api_key"] == "kc-control-key"]
    assert entry["scope"] == key["scope"] and "passphrase" not in entry and "secret" not in entry
    assert "kc-control-passphrase" not in json.dumps(listed) and "kc-control-secret" not in json.dumps(listed)
    response = kucoin_get(
        exchange_simulator, "/api/v1/user/api-key", "kc-control-key", "kc-control-secret", "kc-control-passphrase"
    )
    assert response.json()["data"]["ipWhitelist"] == "127.0.0.1"


@pytest.mark.parametrize("exchange", ["coinbase", "kucoin"])
def test_a_hung_request_ends_when_the_client_gives_up(exchange_simulator, sim_credential, exchange):
    key = sim_credential(exchange, "timeout")
    with pytest.raises(httpx.ReadTimeout):
        if exchange == "coinbase":
            url = exchange_simulator.urls["coinbase"] + "/v2/accounts"
            token = coinbase_jwt(key.api_key, key.secret, "GET", url)
            httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=0.2)
        else:
            stamp = str(int(time.time() * 1000))
            sign = base64.b64encode(
                hmac.new(key.secret.encode(), (stamp + "GET/api/v1/accounts").encode(), hashlib.sha256).digest()
            ).decode()
            headers = {
                "KC-API-KEY": key.api_key,
                "KC-API-SIGN": sign,
                "KC-API-TIMESTAMP": stamp,
                "KC-API-PASSPHRASE": key.password,
                "KC-API-KEY-VERSION": "1",
            }
            httpx.get(exchange_simulator.urls["kucoin"] + "/api/v1/accounts", headers=headers, timeout=0.2)
    deadline = time.monotonic() + 2
    while exchange_simulator.state.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert exchange_simulator.state.in_flight == 0  # the 30 s hang was cancelled with the connection
