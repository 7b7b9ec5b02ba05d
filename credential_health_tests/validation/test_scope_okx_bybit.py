"""OKX's and Bybit's key-information answers through the real ccxt client, and their normalised records."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import ccxt
import pytest

from credential_health.models import Status
from credential_health.scopes.normalise import NORMALISERS
from credential_health.scopes.record import ScopeRecord
from credential_health.validation.instances import build_exchange, default_ssl_context, exchange_session
from credential_health_tests.validation.test_behaviours import check_one

NOW = datetime.now(timezone.utc)
IN_A_MONTH = (NOW + timedelta(days=30)).replace(microsecond=0)


def key_info(urls: dict[str, str], exchange_id: str, credential) -> tuple[dict, ScopeRecord]:
    """The raw answer of the normaliser's METHOD, called on the instance the validator builds, and its record."""
    module = NORMALISERS[exchange_id]

    async def ask() -> dict:
        ssl_context = default_ssl_context()
        session = exchange_session(2, ssl_context)
        try:
            exchange = build_exchange(exchange_id, credential, session, ssl_context, 5.0, urls[exchange_id])
            try:
                return await getattr(exchange, module.METHOD)(dict(module.PARAMS))
            finally:
                await exchange.close()
        finally:
            await session.close()

    answer = asyncio.run(ask())
    return answer, module.normalise(answer, NOW)


@pytest.mark.parametrize(("scope", "expected"), [
    # the default simulated key: trade only, no bound IP; OKX's transfers need the Trade permission
    (None, ScopeRecord(True, False, True, False, (), None)),
    ({"trade": True, "withdraw": True, "ip_allowlist": ["127.0.0.1", "198.51.100.0/24"]},
     ScopeRecord(True, True, True, True, ("127.0.0.1", "198.51.100.0/24"), None)),
    # OKX reports no expiry, whatever the key's
    ({"trade": False, "withdraw": False, "expires_at": IN_A_MONTH.isoformat()},
     ScopeRecord(False, False, False, False, (), None)),
])
def test_okx_account_config(exchange_simulator, sim_credential, scope, expected):
    credential = sim_credential("okx", **({"scope": scope} if scope else {}))
    answer, record = key_info(exchange_simulator.urls, "okx", credential)
    assert answer["code"] == "0" and set(answer["data"][0]["perm"].split(",")) >= {"read_only"}
    assert record == expected
    assert [r.path for r in exchange_simulator.requests(api_key=credential.api_key)] == ["/api/v5/account/config"]


@pytest.mark.parametrize(("scope", "expected"), [
    (None, ScopeRecord(True, False, False, False, (), None)),
    ({"trade": True, "withdraw": True, "transfer": True, "ip_allowlist": ["127.0.0.1", "203.0.113.7"]},
     ScopeRecord(True, True, True, True, ("127.0.0.1", "203.0.113.7"), None)),
    ({"trade": False, "expires_at": IN_A_MONTH.isoformat()},
     ScopeRecord(False, False, False, False, (), IN_A_MONTH)),
    ({"trade": False, "transfer": True, "expires_at": IN_A_MONTH.isoformat()},
     ScopeRecord(False, False, True, False, (), IN_A_MONTH)),
])
def test_bybit_query_api(exchange_simulator, sim_credential, scope, expected):
    credential = sim_credential("bybit", **({"scope": scope} if scope else {}))
    answer, record = key_info(exchange_simulator.urls, "bybit", credential)
    result = answer["result"]
    assert answer["retCode"] == 0 and result["apiKey"] == credential.api_key
    assert result["ips"] == (scope or {}).get("ip_allowlist", ["*"])
    assert record == expected
    assert [r.path for r in exchange_simulator.requests(api_key=credential.api_key)] == ["/v5/user/query-api"]


@pytest.mark.parametrize(("exchange_id", "error"), [("okx", ccxt.AuthenticationError),
                                                   ("bybit", ccxt.AuthenticationError)])
def test_key_info_of_a_revoked_key_raises_the_exchange_rejection(exchange_simulator, sim_credential, exchange_id,
                                                                  error):
    credential = sim_credential(exchange_id, "revoked")
    with pytest.raises(error):
        key_info(exchange_simulator.urls, exchange_id, credential)


def _okx(**fields) -> dict:
    return {"code": "0", "msg": "", "data": [{"perm": "read_only", "ip": "", **fields}]}


def _bybit(**fields) -> dict:
    result = {"readOnly": 0, "permissions": {"Spot": ["SpotTrade"], "Wallet": []}, "ips": ["*"],
              "expiredAt": "1970-01-01T00:00:00Z", "deadlineDay": -2, **fields}
    return {"retCode": 0, "retMsg": "", "result": result}


def test_okx_fields():
    okx = NORMALISERS["okx"]
    assert okx.normalise(_okx(perm="read_only,withdraw,trade", ip="117.37.203.58, 117.37.203.57"), NOW) == (
        ScopeRecord(True, True, True, True, ("117.37.203.58", "117.37.203.57"), None))
    for bad in ({}, {"code": "50111", "msg": "Invalid OK-ACCESS-KEY.", "data": []}, {"code": "0", "data": []},
                _okx(perm=None), _okx(perm=""), _okx(ip=["1.2.3.4"])):
        with pytest.raises(ValueError):
            okx.normalise(bad, NOW)


def test_bybit_fields():
    bybit = NORMALISERS["bybit"]
    assert bybit.normalise(_bybit(), NOW) == ScopeRecord(True, False, False, False, (), None)
    # read only: nothing it lists may be used; the documented example lists SpotTrade on such a key
    assert bybit.normalise(_bybit(readOnly=1, permissions={"Spot": ["SpotTrade"], "Wallet": ["Withdraw"]}), NOW) \
        == ScopeRecord(False, False, False, False, (), None)
    record = bybit.normalise(_bybit(permissions={"ContractTrade": ["Order"], "Wallet": ["SubMemberTransferList"]},
                                    ips=["18.181.170.164", "13.212.45.47"], expiredAt="2026-12-01T00:00:00Z"), NOW)
    assert record == ScopeRecord(True, False, True, True, ("18.181.170.164", "13.212.45.47"),
                                 datetime(2026, 12, 1, tzinfo=timezone.utc))
    for bad in ({}, {"retCode": 10003, "retMsg": "API key is invalid.", "result": {}}, _bybit(readOnly=None),
                _bybit(ips="*"), _bybit(permissions={"Wallet": "Withdraw"}), _bybit(expiredAt=0)):
        with pytest.raises(ValueError):
            bybit.normalise(bad, NOW)


@pytest.mark.parametrize(("exchange_id", "scope", "code"), [
    ("okx", {"ip_allowlist": ["203.0.113.7"]}, "egress_not_allowlisted"),  # 50110
    ("bybit", {"ip_allowlist": ["203.0.113.7"]}, "egress_not_allowlisted"),  # 10010
    ("okx", {"expires_at": (NOW - timedelta(hours=1)).isoformat()}, "auth_rejected"),  # deleted: 50111
    ("bybit", {"expires_at": (NOW - timedelta(hours=1)).isoformat()}, "key_expired"),  # 33004
])
def test_balance_check_of_a_key_bound_elsewhere_or_expired(exchange_simulator, sim_credential, exchange_id, scope,
                                                           code):
    credential = sim_credential(exchange_id, scope={"trade": True, **scope})
    result = check_one(exchange_simulator.urls, exchange_id, credential)
    assert (result.status, result.error_code, result.attempts) == (Status.INVALID, code, 1)
