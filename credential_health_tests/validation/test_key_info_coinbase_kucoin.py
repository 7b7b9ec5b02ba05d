"""Coinbase's and KuCoin's key-information answers: fetched by real ccxt from the simulator, then normalised.
Fields the exchange does not report stay None."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from credential_health.scopes.normalise import NORMALISERS, coinbase, kucoin
from credential_health.scopes.record import ScopeRecord
from credential_health.validation.instances import override_api_urls

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def fetch_key_info(sim, exchange: str, credential) -> dict:
    """Call the normaliser's METHOD with real ccxt against the simulator and return the raw answer."""
    module = NORMALISERS[exchange]

    async def call() -> dict:
        cls = getattr(ccxt_async, exchange)
        client = cls({**credential.ccxt_config(), "enableRateLimit": False,
                      "urls": {"api": override_api_urls(cls().urls["api"], sim.urls[exchange])}})
        try:
            return await getattr(client, module.METHOD)(module.PARAMS)
        finally:
            await client.close()

    return asyncio.run(call())


@pytest.mark.parametrize(("scope", "expected"), [
    ({"trade": True, "withdraw": False, "transfer": False},
     ScopeRecord(can_trade=True, can_withdraw=False, can_transfer=False)),
    ({"trade": False, "withdraw": False, "transfer": True},
     ScopeRecord(can_trade=False, can_withdraw=True, can_transfer=True)),
    # an allowlist and an expiry the key has, but this endpoint does not report: still None
    ({"trade": True, "ip_allowlist": ["127.0.0.1"], "expires_at": "2026-02-01T00:00:00Z"},
     ScopeRecord(can_trade=True, can_withdraw=False, can_transfer=False)),
])
def test_coinbase_key_permissions_through_ccxt(exchange_simulator, sim_credential, scope, expected):
    credential = sim_credential("coinbase", scope=scope)
    answer = fetch_key_info(exchange_simulator, "coinbase", credential)
    assert set(answer) == {"can_view", "can_trade", "can_transfer", "portfolio_uuid", "portfolio_type"}
    record = coinbase.normalise(answer, NOW)
    assert record == expected
    assert (record.ip_restricted, record.ip_allowlist, record.expires_at, record.egress_allowlisted) == (
        None, None, None, None)
    [request] = exchange_simulator.requests(api_key=credential.api_key)
    assert request.path == "/api/v3/brokerage/key_permissions"


@pytest.mark.parametrize(("scope", "expected"), [
    ({"trade": True}, ScopeRecord(can_trade=True, can_withdraw=False, can_transfer=False, ip_restricted=False,
                                  ip_allowlist=())),
    ({"trade": False, "withdraw": True, "transfer": True, "ip_allowlist": ["127.0.0.1", "198.51.100.4"]},
     ScopeRecord(can_trade=False, can_withdraw=True, can_transfer=True, ip_restricted=True,
                 ip_allowlist=("127.0.0.1", "198.51.100.4"))),
])
def test_kucoin_api_key_info_through_ccxt(exchange_simulator, sim_credential, scope, expected):
    credential = sim_credential("kucoin", scope=scope)
    answer = fetch_key_info(exchange_simulator, "kucoin", credential)
    assert answer["code"] == "200000" and answer["data"]["apiKey"] == credential.api_key
    record = kucoin.normalise(answer, NOW)
    assert record == expected and record.expires_at is None  # KuCoin reports no expiry
    [request] = exchange_simulator.requests(api_key=credential.api_key)
    assert request.path == "/api/v1/user/api-key"


def test_key_info_of_a_revoked_key_is_the_exchange_rejection(exchange_simulator, sim_credential):
    with pytest.raises(ccxt.AuthenticationError, match="400003"):
        fetch_key_info(exchange_simulator, "kucoin", sim_credential("kucoin", "revoked"))
    with pytest.raises(ccxt.AuthenticationError):  # Advanced Trade: a bare 401 "Unauthorized"
        fetch_key_info(exchange_simulator, "coinbase", sim_credential("coinbase", "revoked"))


@pytest.mark.parametrize(("data", "expected"), [
    # KuCoin's documented spelling, spaces after commas and the older "Withdraw"
    ({"permission": "General, Spot, Withdraw", "ipWhitelist": ""},
     ScopeRecord(can_trade=True, can_withdraw=True, can_transfer=False, ip_restricted=False, ip_allowlist=())),
    ({"permission": "General,Futures,InnerTransfer"},  # no ipWhitelist field: not reported
     ScopeRecord(can_trade=True, can_withdraw=False, can_transfer=True)),
    ({"permission": "General"}, ScopeRecord(can_trade=False, can_withdraw=False, can_transfer=False)),
    ({}, ScopeRecord()),
])
def test_kucoin_normaliser_on_documented_variants(data, expected):
    assert kucoin.normalise({"code": "200000", "data": data}, NOW) == expected


def test_coinbase_normaliser_leaves_unreported_flags_none():
    assert coinbase.normalise({"can_view": True}, NOW) == ScopeRecord()
    assert coinbase.normalise({"can_trade": "yes", "can_transfer": False}, NOW) == ScopeRecord(
        can_withdraw=False, can_transfer=False)
