"""The normalisers on the exchanges' documented answers: units, absent fields as None, wrong shapes refused."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from credential_health.scopes.normalise import MODULES, binance, bybit, coinbase, kraken, kucoin, normaliser, okx
from credential_health.scopes.record import ScopeRecord

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)

# The response example of https://developers.binance.com/docs/wallet/account/api-key-permission
BINANCE_DOC = {
    "ipRestrict": False,
    "createTime": 1698645219000,
    "enableReading": True,
    "enableWithdrawals": False,
    "enableInternalTransfer": False,
    "enableMargin": False,
    "enableFutures": False,
    "permitsUniversalTransfer": False,
    "enableVanillaOptions": False,
    "enableFixApiTrade": False,
    "enableFixReadOnly": True,
    "enableSpotAndMarginTrading": False,
    "enablePortfolioMarginTrading": True,
}
# The response example of https://docs.kraken.com/api-reference/account-data/get-api-key-info
KRAKEN_DOC = {
    "error": [],
    "result": {
        "apiKeyName": "my-api-key",
        "apiKey": "4/SDrDBcOOPnm3nPlNfEMMJDeRcIVqPz+QhRxIodyZbI9po/aVRiHsgX",
        "nonce": "1772627060997",
        "nonceWindow": 0,
        "permissions": ["query-funds", "withdraw-funds", "query-open-trades", "modify-trades"],
        "iban": "AA88 N84G WOAK NMOI",
        "validUntil": "0",
        "queryFrom": "0",
        "queryTo": "0",
        "createdTime": "1772542900",
        "modifiedTime": "1772543095",
        "ipAllowlist": [],
        "lastUsed": "1772627061",
    },
}


def test_binance_documented_answer():
    assert binance.normalise(BINANCE_DOC, NOW) == ScopeRecord(
        can_trade=True,  # portfolio margin trading is trading
        can_withdraw=False,
        can_transfer=False,
        ip_restricted=False,
        ip_allowlist=None,
        expires_at=None,
    )


def test_binance_trading_authority_expiry_is_in_milliseconds():
    record = binance.normalise({**BINANCE_DOC, "tradingAuthorityExpirationTime": 1795392000000}, NOW)
    assert record.expires_at == datetime(2026, 11, 23, tzinfo=timezone.utc)


def test_binance_flags_absent_from_an_answer_are_none():
    record = binance.normalise({"ipRestrict": True}, NOW)
    assert record == ScopeRecord(ip_restricted=True)  # every other field unreported, never guessed


def test_kraken_documented_answer():
    assert kraken.normalise(KRAKEN_DOC, NOW) == ScopeRecord(
        can_trade=True, can_withdraw=True, can_transfer=True, ip_restricted=False, ip_allowlist=(), expires_at=None
    )


def test_kraken_valid_until_is_in_seconds_and_the_allowlist_is_kept():
    result = {
        **KRAKEN_DOC["result"],
        "permissions": ["query-funds"],
        "validUntil": "1795392000",
        "ipAllowlist": ["203.0.113.0/24", "2001:db8::1"],
    }
    record = kraken.normalise({"error": [], "result": result}, NOW)
    assert (record.can_trade, record.can_withdraw, record.can_transfer) == (False, False, False)
    assert record.ip_restricted is True and record.ip_allowlist == ("203.0.113.0/24", "2001:db8::1")
    assert record.expires_at == datetime(2026, 11, 23, tzinfo=timezone.utc)


def test_kraken_without_an_allowlist_field_reports_no_restriction_either_way():
    result = {key: value for key, value in KRAKEN_DOC["result"].items() if key != "ipAllowlist"}
    record = kraken.normalise({"error": [], "result": result}, NOW)
    assert record.ip_allowlist is None and record.ip_restricted is None


def _okx(**fields) -> dict:
    return {"code": "0", "msg": "", "data": [{"perm": "read_only", "ip": "", **fields}]}


def _bybit(**fields) -> dict:
    result = {
        "readOnly": 0,
        "permissions": {"Spot": ["SpotTrade"], "Wallet": []},
        "ips": ["*"],
        "expiredAt": "1970-01-01T00:00:00Z",
        "deadlineDay": -2,
        **fields,
    }
    return {"retCode": 0, "retMsg": "", "result": result}


def test_okx_perm_and_ip_are_comma_separated():
    assert okx.normalise(_okx(perm="read_only,withdraw,trade", ip="117.37.203.58, 117.37.203.57"), NOW) == (
        ScopeRecord(True, True, True, True, ("117.37.203.58", "117.37.203.57"), None)
    )


def test_bybit_read_only_grants_nothing_whatever_the_groups_list():
    # the documented example lists SpotTrade on a read-only key
    assert bybit.normalise(
        _bybit(readOnly=1, permissions={"Spot": ["SpotTrade"], "Wallet": ["Withdraw"]}), NOW
    ) == ScopeRecord(False, False, False, False, (), None)
    record = bybit.normalise(
        _bybit(
            permissions={"ContractTrade": ["Order"], "Wallet": ["SubMemberTransferList"]},
            ips=["18.181.170.164", "13.212.45.47"],
            expiredAt="2026-12-01T00:00:00Z",
        ),
        NOW,
    )
    assert record == ScopeRecord(
        True, False, True, True, ("18.181.170.164", "13.212.45.47"), datetime(2026, 12, 1, tzinfo=timezone.utc)
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # KuCoin's documented spelling, spaces after commas and the older "Withdraw"
        ({"permission": "General, Spot, Withdraw", "ipWhitelist": ""}, ScopeRecord(True, True, False, False, ())),
        ({"permission": "General,Futures,InnerTransfer"}, ScopeRecord(True, False, True)),  # no ipWhitelist: None
        ({"permission": "General"}, ScopeRecord(False, False, False)),
    ],
)
def test_kucoin_documented_variants(data, expected):
    assert kucoin.normalise({"code": "200000", "data": data}, NOW) == expected


def test_coinbase_leaves_unreported_flags_none():
    assert coinbase.normalise({"can_view": True}, NOW) == ScopeRecord()
    assert coinbase.normalise({"can_trade": "yes", "can_transfer": False}, NOW) == ScopeRecord(
        can_withdraw=False, can_transfer=False
    )


@pytest.mark.parametrize(
    ("module", "answer"),
    [
        (binance, {}),
        (binance, []),
        (binance, {"ipRestrict": "no"}),
        (binance, {**BINANCE_DOC, "tradingAuthorityExpirationTime": "soon"}),
        (kraken, {"error": [], "result": {}}),
        (kraken, {"error": []}),
        (kraken, {"result": {"permissions": "all"}}),
        (kraken, {"result": {"permissions": [], "validUntil": "never"}}),
        (okx, {}),
        (okx, {"code": "50111", "msg": "Invalid OK-ACCESS-KEY.", "data": []}),
        (okx, {"code": "0", "data": []}),
        (okx, _okx(perm=None)),
        (okx, _okx(perm="")),
        (okx, _okx(ip=["1.2.3.4"])),
        (bybit, {}),
        (bybit, {"retCode": 10003, "retMsg": "API key is invalid.", "result": {}}),
        (bybit, _bybit(readOnly=None)),
        (bybit, _bybit(ips="*")),
        (bybit, _bybit(permissions={"Wallet": "Withdraw"})),
        (bybit, _bybit(expiredAt=0)),
        (coinbase, {}),
        (coinbase, []),
        (kucoin, {"code": "200000", "data": {}}),
        (kucoin, []),
    ],
)
def test_answers_of_another_shape_are_refused(module, answer):
    with pytest.raises(ValueError):  # the probe reports any of them as bad_response
        module.normalise(answer, NOW)


def test_registry_names_each_module_by_its_exchange():
    for exchange in MODULES:
        module = normaliser(exchange)
        assert module.__name__.rsplit(".", 1)[1] == exchange
        assert isinstance(module.METHOD, str) and isinstance(module.PARAMS, dict) and callable(module.normalise)
    assert normaliser("gemini") is None
