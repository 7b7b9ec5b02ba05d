"""The simulator's wire protocol, spoken by hand: signatures, time windows, nonces, budgets, hangs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import urlencode

import ccxt
import httpx
import pytest

from credential_health.validation.instances import override_api_urls


def binance_get(sim, path: str, api_key: str | None, secret: str, timeout: float = 5, **params) -> httpx.Response:
    query = urlencode({"timestamp": int(time.time() * 1000), "recvWindow": 5000, **params})
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    headers = {"X-MBX-APIKEY": api_key} if api_key else {}
    return httpx.get(f"{sim.urls['binance']}{path}?{query}&signature={signature}", headers=headers, timeout=timeout)


def kraken_post(
    sim,
    api_key: str,
    secret: str,
    nonce: int,
    path: str = "/0/private/BalanceEx",
    sign_with: str | None = None,
    timeout: float = 5,
) -> httpx.Response:
    body = urlencode({"nonce": nonce})
    digest = hashlib.sha256((str(nonce) + body).encode()).digest()
    mac = hmac.new(base64.b64decode(sign_with or secret), path.encode() + digest, hashlib.sha512)
    headers = {
        "API-Key": api_key,
        "API-Sign": base64.b64encode(mac.digest()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return httpx.post(sim.urls["kraken"] + path, content=body, headers=headers, timeout=timeout)


def test_binance_account_with_a_correct_signature(exchange_simulator, sim_credential):
    key = sim_credential("binance")
    response = binance_get(exchange_simulator, "/api/v3/account", key.api_key, key.secret)
    assert response.status_code == 200
    assert {b["asset"] for b in response.json()["balances"]} == {"BTC", "USDT"}
    assert response.headers["X-MBX-USED-WEIGHT-1M"] == "20"
    [request] = exchange_simulator.requests(api_key=key.api_key)
    assert (request.exchange, request.path) == ("binance", "/api/v3/account")


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("wrong-secret", 400, -1022),
        ("no-key", 401, -2014),
        ("unknown-key", 401, -2015),
        ("old-timestamp", 400, -1021),
        ("future-timestamp", 400, -1021),
        ("huge-recv-window", 400, -1131),
        ("bad-timestamp", 400, -1100),
    ],
)
def test_binance_rejections(exchange_simulator, sim_credential, case, status, code):
    key = sim_credential("binance")
    now = int(time.time() * 1000)
    api_key, secret, params = key.api_key, key.secret, {}
    if case == "wrong-secret":
        secret = "another-secret"
    elif case == "no-key":
        api_key = None
    elif case == "unknown-key":
        api_key = "never-registered"
    elif case == "old-timestamp":
        params = {"timestamp": now - 20_000}
    elif case == "future-timestamp":
        params = {"timestamp": now + 5_000}
    elif case == "huge-recv-window":
        params = {"recvWindow": 70_000}
    elif case == "bad-timestamp":
        params = {"timestamp": "soon"}
    response = binance_get(exchange_simulator, "/api/v3/account", api_key, secret, **params)
    assert response.status_code == status
    assert response.json()["code"] == code


def test_binance_mandatory_signature(exchange_simulator, sim_credential):
    key = sim_credential("binance")
    response = httpx.get(
        f"{exchange_simulator.urls['binance']}/api/v3/account?timestamp=1", headers={"X-MBX-APIKEY": key.api_key}
    )
    assert response.status_code == 400 and response.json()["code"] == -1102


def test_binance_public_endpoints(exchange_simulator):
    base = exchange_simulator.urls["binance"]
    assert httpx.get(base + "/api/v3/ping").json() == {}
    assert abs(httpx.get(base + "/api/v3/time").json()["serverTime"] - time.time() * 1000) < 5000
    symbols = httpx.get(base + "/api/v3/exchangeInfo").json()["symbols"]
    assert [s["symbol"] for s in symbols] == ["BTCUSDT", "ETHUSDT"]


def test_kraken_signature_and_strictly_increasing_nonce(exchange_simulator, sim_credential):
    key = sim_credential("kraken")
    nonce = int(time.time() * 1000)
    first = kraken_post(exchange_simulator, key.api_key, key.secret, nonce)
    assert first.json() == {
        "error": [],
        "result": {
            "XXBT": {"balance": "0.5000000000", "hold_trade": "0.0000000000"},
            "ZUSD": {"balance": "1000.0000", "hold_trade": "0.0000"},
        },
    }
    for replay in (nonce, nonce - 1):
        assert kraken_post(exchange_simulator, key.api_key, key.secret, replay).json() == {
            "error": ["EAPI:Invalid nonce"]
        }
    assert kraken_post(exchange_simulator, key.api_key, key.secret, nonce + 1).json()["error"] == []
    balance = kraken_post(exchange_simulator, key.api_key, key.secret, nonce + 2, path="/0/private/Balance")
    assert balance.json()["result"] == {"XXBT": "0.5000000000", "ZUSD": "1000.0000"}


def test_kraken_rejections(exchange_simulator, sim_credential):
    key = sim_credential("kraken")
    other = base64.b64encode(b"some other secret").decode()
    nonce = int(time.time() * 1000)
    # Kraken's error guide: a signature made with the wrong secret is EAPI:Invalid signature, not Invalid key
    assert kraken_post(exchange_simulator, key.api_key, key.secret, nonce, sign_with=other).json() == {
        "error": ["EAPI:Invalid signature"]
    }
    assert kraken_post(exchange_simulator, "unknown", key.secret, nonce).json()["error"] == ["EAPI:Invalid key"]
    no_nonce = httpx.post(
        exchange_simulator.urls["kraken"] + "/0/private/BalanceEx",
        content="",
        headers={"API-Key": key.api_key, "API-Sign": "x"},
    )
    assert no_nonce.json()["error"] == ["EGeneral:Invalid arguments"]
    # a secret that is not base64 can never produce a valid signature
    exchange_simulator.set_key("kraken", "odd", "not base64!")
    assert kraken_post(exchange_simulator, "odd", other, nonce).json()["error"] == ["EAPI:Invalid signature"]


def test_kraken_public_endpoints(exchange_simulator):
    base = exchange_simulator.urls["kraken"]
    assert abs(httpx.get(base + "/0/public/Time").json()["result"]["unixtime"] - time.time()) < 5
    assert httpx.get(base + "/0/public/SystemStatus").json()["result"]["status"] == "online"
    assert set(httpx.get(base + "/0/public/AssetPairs").json()["result"]) == {"XXBTZUSD", "XETHZUSD"}
    assert "XXBT" in httpx.get(base + "/0/public/Assets").json()["result"]


def test_per_ip_budget_429_then_418(exchange_simulator, sim_credential):
    exchange_simulator.configure(weight_per_minute=45, ban_after=1, ban_seconds=60)
    key = sim_credential("binance")
    statuses = [binance_get(exchange_simulator, "/api/v3/account", key.api_key, key.secret) for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 418, 418]
    assert statuses[2].json()["code"] == -1003 and "Retry-After" in statuses[2].headers
    assert "banned" in statuses[3].json()["msg"]
    assert httpx.get(exchange_simulator.urls["binance"] + "/api/v3/ping").status_code == 418
    kraken_key = sim_credential("kraken")  # budgets are per exchange
    nonce = int(time.time() * 1000)
    errors = [
        kraken_post(exchange_simulator, kraken_key.api_key, kraken_key.secret, nonce + i).json()["error"]
        for i in range(48)
    ]
    assert errors[:45] == [[]] * 45
    assert errors[45:] == [
        ["EGeneral:Too many requests"],
        ["EGeneral:Temporary lockout"],
        ["EGeneral:Temporary lockout"],
    ]


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_a_hung_request_ends_when_the_client_gives_up(exchange_simulator, sim_credential, exchange):
    key = sim_credential(exchange, "timeout")
    nonce = int(time.time() * 1000)
    with pytest.raises(httpx.ReadTimeout):
        if exchange == "binance":
            binance_get(exchange_simulator, "/api/v3/account", key.api_key, key.secret, timeout=0.2)
        else:
            kraken_post(exchange_simulator, key.api_key, key.secret, nonce, timeout=0.2)
    deadline = time.monotonic() + 2
    while exchange_simulator.state.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert exchange_simulator.state.in_flight == 0  # the 30 s hang was cancelled with the connection


@pytest.mark.parametrize(("exchange", "signed_requests"), [("binance", 5), ("kraken", 1)])
def test_plain_sync_ccxt_loads_markets_from_the_simulator(
    exchange_simulator, sim_credential, exchange, signed_requests
):
    key = sim_credential(exchange)
    cls = getattr(ccxt, exchange)
    client = cls(
        {
            **key.ccxt_config(),
            "enableRateLimit": False,
            "urls": {"api": override_api_urls(cls().urls["api"], exchange_simulator.urls[exchange])},
        }
    )
    balance = client.fetch_balance()
    assert balance["total"]["BTC"] == 0.5
    assert len(client.markets) == 2
    assert len(exchange_simulator.requests(api_key=key.api_key)) == signed_requests
