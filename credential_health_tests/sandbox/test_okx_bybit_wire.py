"""OKX's and Bybit's wire protocol, spoken by hand: signatures, passphrase, time windows, bound IPs, expiry, limits."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import ccxt
import httpx
import pytest

from credential_health.sandbox import bybit, okx
from credential_health.validation.instances import STATIC_MARKETS, override_api_urls


def okx_get(
    sim,
    path: str,
    key,
    secret: str | None = None,
    passphrase: str | None = None,
    timestamp: str | None = None,
    timeout: float = 5,
    drop: str = "",
) -> httpx.Response:
    timestamp = timestamp or okx.now_iso()
    signature = okx.expected_signature(secret or key.secret, timestamp, "GET", path, "")
    headers = {
        "OK-ACCESS-KEY": key.api_key,
        "OK-ACCESS-SIGN": signature,
        "OK-ACCESS-TIMESTAMP": timestamp,
        "OK-ACCESS-PASSPHRASE": passphrase or key.password,
    }
    headers.pop(drop, None)
    return httpx.get(sim.urls["okx"] + path, headers=headers, timeout=timeout)


def bybit_get(
    sim,
    path: str,
    key,
    query: str = "accountType=UNIFIED",
    secret: str | None = None,
    timestamp: int | None = None,
    recv_window: str = "5000",
    timeout: float = 5,
) -> httpx.Response:
    sent = str(timestamp if timestamp is not None else int(time.time() * 1000))
    signature = bybit.expected_signature(secret or key.secret, sent, key.api_key, recv_window, query)
    headers = {
        "X-BAPI-API-KEY": key.api_key,
        "X-BAPI-SIGN": signature,
        "X-BAPI-TIMESTAMP": sent,
        "X-BAPI-RECV-WINDOW": recv_window,
    }
    return httpx.get(f"{sim.urls['bybit']}{path}?{query}", headers=headers, timeout=timeout)


def test_okx_balance_with_a_correct_signature(exchange_simulator, sim_credential):
    key = sim_credential("okx")
    response = okx_get(exchange_simulator, "/api/v5/account/balance", key)
    assert response.status_code == 200 and response.json()["code"] == "0"
    assert {d["ccy"] for d in response.json()["data"][0]["details"]} == {"BTC", "USDT"}
    # the query string is part of the signed requestPath
    assert okx_get(exchange_simulator, "/api/v5/account/balance?ccy=BTC", key).json()["code"] == "0"
    assert [r.path for r in exchange_simulator.requests(api_key=key.api_key)] == ["/api/v5/account/balance"] * 2


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong-secret", "50113"),
        ("wrong-passphrase", "50105"),
        ("unknown-key", "50111"),
        ("old-timestamp", "50102"),
        ("future-timestamp", "50102"),
        ("bad-timestamp", "50112"),
        ("no-sign", "50106"),
        ("no-passphrase", "50104"),
    ],
)
def test_okx_rejections(exchange_simulator, sim_credential, case, code):
    key = sim_credential("okx")
    options: dict = {}
    if case == "wrong-secret":
        options["secret"] = "another-secret"
    elif case == "wrong-passphrase":
        options["passphrase"] = "another-passphrase"
    elif case == "unknown-key":
        exchange_simulator.remove_key("okx", key.api_key)
    elif case in ("old-timestamp", "future-timestamp"):
        shift = timedelta(seconds=-45 if case == "old-timestamp" else 45)
        options["timestamp"] = (datetime.now(timezone.utc) + shift).isoformat(timespec="milliseconds")
    elif case == "bad-timestamp":
        options["timestamp"] = "yesterday"
    else:
        options["drop"] = "OK-ACCESS-SIGN" if case == "no-sign" else "OK-ACCESS-PASSPHRASE"
    response = okx_get(exchange_simulator, "/api/v5/account/balance", key, **options)
    assert (response.status_code, response.json()["code"]) == (401, code)  # the API class: all HTTP 401
    assert response.json()["data"] == []


def test_okx_key_without_header_is_50103(exchange_simulator):
    response = httpx.get(exchange_simulator.urls["okx"] + "/api/v5/account/balance")
    assert (response.status_code, response.json()["code"]) == (401, "50103")


def test_bybit_balance_with_a_correct_signature(exchange_simulator, sim_credential):
    key = sim_credential("bybit")
    response = bybit_get(exchange_simulator, "/v5/account/wallet-balance", key)
    body = response.json()
    assert (response.status_code, body["retCode"], body["retMsg"]) == (200, 0, "OK")
    [account] = body["result"]["list"]
    assert account["accountType"] == "UNIFIED" and {c["coin"] for c in account["coin"]} == {"BTC", "USDT"}


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("wrong-secret", 401, 10004),
        ("unknown-key", 401, 10003),
        ("old-timestamp", 200, 10002),
        ("future-timestamp", 200, 10002),
        ("no-account-type", 200, 10001),
        ("classic-account", 200, 10001),
    ],
)
def test_bybit_rejections(exchange_simulator, sim_credential, case, status, code):
    key = sim_credential("bybit")
    options: dict = {}
    now = int(time.time() * 1000)
    if case == "wrong-secret":
        options["secret"] = "another-secret"
    elif case == "unknown-key":
        exchange_simulator.remove_key("bybit", key.api_key)
    elif case == "old-timestamp":
        options["timestamp"] = now - 6_000  # older than the 5,000 ms recv window
    elif case == "future-timestamp":
        options["timestamp"] = now + 1_500  # the guide: at most 1,000 ms ahead of the server
    elif case == "no-account-type":
        options["query"] = ""
    else:
        options["query"] = "accountType=CONTRACT"  # wallet-balance takes UNIFIED only
    response = bybit_get(exchange_simulator, "/v5/account/wallet-balance", key, **options)
    assert (response.status_code, response.json()["retCode"]) == (status, code)


@pytest.mark.parametrize(("exchange", "status", "code"), [("okx", 401, "50110"), ("bybit", 200, 10010)])
def test_a_key_bound_to_other_addresses_is_refused(exchange_simulator, sim_credential, exchange, status, code):
    elsewhere = sim_credential(exchange, scope={"trade": True, "ip_allowlist": ["203.0.113.7"]})
    here = sim_credential(exchange, scope={"trade": True, "ip_allowlist": ["203.0.113.7", "127.0.0.1"]})
    answers = {}
    for name, key in (("elsewhere", elsewhere), ("here", here)):
        answers[name] = (
            okx_get(exchange_simulator, "/api/v5/account/balance", key)
            if exchange == "okx"
            else bybit_get(exchange_simulator, "/v5/account/wallet-balance", key)
        )
    refused = answers["elsewhere"].json()
    assert (answers["elsewhere"].status_code, refused.get("code", refused.get("retCode"))) == (status, code)
    assert answers["here"].status_code == 200


@pytest.mark.parametrize(("exchange", "status", "code"), [("okx", 401, "50111"), ("bybit", 200, 33004)])
def test_an_expired_key(exchange_simulator, sim_credential, exchange, status, code):
    """OKX deletes such keys (Invalid OK-ACCESS-KEY); Bybit says the key has expired."""
    past = int((datetime.now(timezone.utc) - timedelta(days=1)).timestamp())
    key = sim_credential(exchange, scope={"trade": True, "expires_at": past})
    response = (
        okx_get(exchange_simulator, "/api/v5/account/balance", key)
        if exchange == "okx"
        else bybit_get(exchange_simulator, "/v5/account/wallet-balance", key)
    )
    body = response.json()
    assert (response.status_code, body.get("code", body.get("retCode"))) == (status, code)


def test_per_ip_limit_answers_each_exchange_its_own_way(exchange_simulator, sim_credential):
    exchange_simulator.configure(weight_per_minute=2, ban_after=5)
    okx_key, bybit_key = sim_credential("okx"), sim_credential("bybit")
    okx_codes = [okx_get(exchange_simulator, "/api/v5/account/balance", okx_key) for _ in range(3)]
    assert [(r.status_code, r.json()["code"]) for r in okx_codes] == [(200, "0"), (200, "0"), (429, "50011")]
    bybit_answers = [bybit_get(exchange_simulator, "/v5/account/wallet-balance", bybit_key) for _ in range(3)]
    assert [r.status_code for r in bybit_answers] == [200, 200, 403]  # budgets are per exchange
    assert bybit_answers[2].text == "access too frequent"  # the rate-limit page: "403, access too frequent"


@pytest.mark.parametrize("exchange", ["okx", "bybit"])
def test_a_hung_request_ends_when_the_client_gives_up(exchange_simulator, sim_credential, exchange):
    key = sim_credential(exchange, "timeout")
    with pytest.raises(httpx.ReadTimeout):
        if exchange == "okx":
            okx_get(exchange_simulator, "/api/v5/account/balance", key, timeout=0.2)
        else:
            bybit_get(exchange_simulator, "/v5/account/wallet-balance", key, timeout=0.2)
    deadline = time.monotonic() + 2
    while exchange_simulator.state.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert exchange_simulator.state.in_flight == 0


@pytest.mark.parametrize(
    ("exchange", "paths"),
    [
        ("okx", ["/api/v5/account/balance"]),
        # without the project's pre-seeded options, ccxt first asks whether the account is unified
        ("bybit", ["/v5/account/info", "/v5/account/wallet-balance", "/v5/user/query-api"]),
    ],
)
def test_plain_sync_ccxt_fetches_the_balance(exchange_simulator, sim_credential, exchange, paths):
    key = sim_credential(exchange)
    cls = getattr(ccxt, exchange)
    client = cls(
        {
            **key.ccxt_config(),
            "enableRateLimit": False,
            "urls": {"api": override_api_urls(cls().urls["api"], exchange_simulator.urls[exchange])},
        }
    )
    client.set_markets(STATIC_MARKETS[exchange])
    balance = client.fetch_balance()
    assert (balance["total"]["BTC"], balance["total"]["USDT"]) == (0.5, 1000)
    assert sorted(r.path for r in exchange_simulator.requests(api_key=key.api_key)) == paths


def test_control_api_registers_a_passphrase_and_a_scope_without_showing_the_passphrase(exchange_simulator):
    scope = {"trade": False, "withdraw": True, "transfer": False, "ip_allowlist": ["127.0.0.1"], "expires_at": None}
    entry = {"exchange": "okx", "api_key": "okx-control-key", "secret": "s3cret", "passphrase": "pa55", "scope": scope}
    assert httpx.post(exchange_simulator.base_url + "/__sim/keys", json=entry).json() == {"registered": 1}
    [listed] = httpx.get(exchange_simulator.base_url + "/__sim/keys").json()
    assert listed["scope"] == scope and "passphrase" not in listed and "secret" not in listed
    key = type("Key", (), {"api_key": "okx-control-key", "secret": "s3cret", "password": "pa55"})
    config = okx_get(exchange_simulator, "/api/v5/account/config", key).json()["data"][0]
    assert (config["perm"], config["ip"]) == ("read_only,withdraw", "127.0.0.1")
