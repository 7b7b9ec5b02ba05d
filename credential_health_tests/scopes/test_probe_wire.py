"""The scope probe through real ccxt against the simulator: one normalised record per exchange, after a valid check.

Each probed exchange slots its cases into WIRE_CASES: the scope the simulator key gets (sandbox.keys.DEFAULT_SCOPE's
fields) and the exact record the probe must produce, None where the exchange does not report a field.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from credential_health.models import CredentialRef, Status
from credential_health.sandbox import binance, bybit, coinbase, kraken, kucoin, okx
from credential_health.scopes.normalise import MODULES
from credential_health.scopes.record import ScopeRecord
from credential_health.validation import ExchangeValidator
from credential_health.validation.codes import AUTH_REJECTED, EGRESS_NOT_ALLOWLISTED, KEY_EXPIRED

EXPIRES = 1_900_000_000  # 2030-03-17
PUBLISHED = ("127.0.0.1",)  # the simulator sees checks from here
# The exchanges of issue 12: every one has a key-information endpoint the probe asks.
ISSUE_EXCHANGES = {"binance", "kraken", "okx", "bybit", "coinbase", "kucoin"}


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


KEY_INFO_PATHS = {module.EXCHANGE: module.KEY_INFO_PATH for module in (binance, kraken, okx, bybit, coinbase, kucoin)}
WIRE_CASES: dict[str, list[tuple[dict, ScopeRecord]]] = {
    "binance": [  # no IP list in the answer: with a restriction, whether ours is on it cannot be told
        ({}, ScopeRecord(True, False, False, False, None, None, True)),
        (
            {"trade": False, "withdraw": True, "transfer": True, "ip_allowlist": ["127.0.0.1"], "expires_at": EXPIRES},
            ScopeRecord(False, True, True, True, None, at(EXPIRES), None),
        ),
    ],
    "kraken": [  # transfers need withdraw-funds: can_transfer follows it
        ({}, ScopeRecord(True, False, False, False, (), None, True)),
        (
            {"trade": False, "withdraw": True, "ip_allowlist": ["127.0.0.0/8"], "expires_at": EXPIRES},
            ScopeRecord(False, True, True, True, ("127.0.0.0/8",), at(EXPIRES), True),
        ),
        ({"ip_allowlist": ["198.51.100.7"]}, ScopeRecord(True, False, False, True, ("198.51.100.7",), None, False)),
    ],
    "okx": [  # transfers need the Trade permission; account/config reports no expiry, whatever the key's
        ({}, ScopeRecord(True, False, True, False, (), None, True)),
        (
            {"withdraw": True, "ip_allowlist": ["127.0.0.1", "198.51.100.0/24"], "expires_at": EXPIRES},
            ScopeRecord(True, True, True, True, ("127.0.0.1", "198.51.100.0/24"), None, True),
        ),
        ({"trade": False, "transfer": True}, ScopeRecord(False, False, False, False, (), None, True)),
    ],
    "bybit": [  # query-api reports the expiry (expiredAt) and "*" for any address
        ({}, ScopeRecord(True, False, False, False, (), None, True)),
        (
            {"withdraw": True, "transfer": True, "ip_allowlist": ["127.0.0.1", "203.0.113.7"]},
            ScopeRecord(True, True, True, True, ("127.0.0.1", "203.0.113.7"), None, True),
        ),
        (
            {"trade": False, "transfer": True, "expires_at": EXPIRES},
            ScopeRecord(False, False, True, False, (), at(EXPIRES), True),
        ),
    ],
    "coinbase": [  # key_permissions: no withdraw of its own (transfer is it), no IP list, no expiry
        ({}, ScopeRecord(True, False, False, None, None, None, None)),
        (
            {"trade": False, "transfer": True, "ip_allowlist": ["127.0.0.1"], "expires_at": EXPIRES},
            ScopeRecord(False, True, True, None, None, None, None),
        ),
    ],
    "kucoin": [  # api-key reports no expiry
        ({}, ScopeRecord(True, False, False, False, (), None, True)),
        (
            {
                "trade": False,
                "withdraw": True,
                "transfer": True,
                "ip_allowlist": ["127.0.0.1", "198.51.100.4"],
                "expires_at": EXPIRES,
            },
            ScopeRecord(False, True, True, True, ("127.0.0.1", "198.51.100.4"), None, True),
        ),
    ],
}
# How each exchange answers for a key whose expiry has passed: (error code, whether the probe reports the expiry).
EXPIRED = {
    "binance": (KEY_EXPIRED, True),  # apiRestrictions' tradingAuthorityExpirationTime in the past
    "kraken": (KEY_EXPIRED, True),  # GetApiKeyInfo's validUntil in the past
    "okx": (AUTH_REJECTED, False),  # OKX deletes expired keys: the balance call gets 50111 Invalid OK-ACCESS-KEY
    "bybit": (KEY_EXPIRED, False),  # the balance call itself answers 33004 "Your api key has expired"
    "coinbase": (AUTH_REJECTED, False),  # no documented expiry answer: the key no longer authenticates (401)
    "kucoin": (AUTH_REJECTED, False),  # no documented expiry answer: 400003 KC-API-KEY not exists
}
# The balance call of a key bound to another address: its error code (each exchange refuses it its own way).
BOUND_ELSEWHERE = {
    "okx": EGRESS_NOT_ALLOWLISTED,  # 50110 "Your IP ... is not included in your API key's IP whitelist"
    "bybit": EGRESS_NOT_ALLOWLISTED,  # 10010 "Unmatched IP"
    "kucoin": EGRESS_NOT_ALLOWLISTED,  # 400006 "Invalid request IP"
    "coinbase": AUTH_REJECTED,  # the CDP key does not authenticate from there: a bare 401
}
CASES = [(exchange, scope, record) for exchange, cases in WIRE_CASES.items() for scope, record in cases]


def check(simulator, exchange: str, credential, **options):
    options = {"attempts": 1, "request_timeout_seconds": 2.0, "published_egress_addresses": PUBLISHED, **options}
    [result] = ExchangeValidator(simulator.urls, **options).validate_all(
        [CredentialRef("acme", exchange, "trading")], lambda ref: credential
    )
    return result


def sent(simulator, credential) -> list[str]:
    return [request.path for request in simulator.requests(api_key=credential.api_key)]


def test_the_registry_is_the_issue_exchanges():
    assert set(MODULES) == ISSUE_EXCHANGES


def test_every_probed_exchange_has_wire_cases():
    assert set(WIRE_CASES) == set(KEY_INFO_PATHS) == set(EXPIRED) == set(MODULES)


@pytest.mark.parametrize(("exchange", "scope", "record"), CASES)
def test_the_probe_normalises_the_answer(exchange_simulator, sim_credential, exchange, scope, record):
    credential = sim_credential(exchange, scope=scope)
    result = check(exchange_simulator, exchange, credential)
    assert (result.status, result.error_code, result.scope_error) == (Status.VALID, "ok", "")
    assert result.scope == record
    assert sent(exchange_simulator, credential)[-1] == KEY_INFO_PATHS[exchange]  # right after the balance call


@pytest.mark.parametrize("exchange", sorted(WIRE_CASES))
@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("server_error", "exchange_unavailable"),
        ("permission_denied", "permission_denied"),
        ("rate_limited", "rate_limited"),
        ("malformed", "bad_response"),
        ("timeout", "timeout"),
        ("bare_403", None),
        ("html_body", None),
        ("truncated_body", None),
    ],
)
def test_a_failed_probe_leaves_the_check_valid(exchange_simulator, sim_credential, exchange, answer, code):
    exchange_simulator.configure(hang_cap_seconds=2)
    credential = sim_credential(exchange, scope={"answer": answer})
    result = check(exchange_simulator, exchange, credential, request_timeout_seconds=0.5, attempts=3)
    assert (result.status, result.error_code, result.attempts) == (Status.VALID, "ok", 1)
    assert result.scope is None and result.scope_error  # visible: a code, never a guessed record
    if answer in ("malformed", "permission_denied", "timeout"):
        assert result.scope_error == code
    assert sent(exchange_simulator, credential).count(KEY_INFO_PATHS[exchange]) == 1  # never retried


@pytest.mark.parametrize("exchange", sorted(WIRE_CASES))
def test_an_expired_key_is_invalid(exchange_simulator, sim_credential, exchange):
    expired = int(datetime.now(timezone.utc).timestamp()) - 60
    credential = sim_credential(exchange, scope={"expires_at": expired})
    result = check(exchange_simulator, exchange, credential)
    code, reported = EXPIRED[exchange]
    assert (result.status, result.error_code, result.attempts) == (Status.INVALID, code, 1)
    if reported:  # the balance call passed; the probe's record says the key has expired
        assert result.scope.expires_at == at(expired) and "expired" in result.error_message
    else:  # the balance call failed: no probe
        assert result.scope is None and KEY_INFO_PATHS[exchange] not in sent(exchange_simulator, credential)


@pytest.mark.parametrize(("exchange", "code"), sorted(BOUND_ELSEWHERE.items()))
def test_a_key_bound_elsewhere_fails_the_balance_call(exchange_simulator, sim_credential, exchange, code):
    credential = sim_credential(exchange, scope={"ip_allowlist": ["203.0.113.7"]})
    result = check(exchange_simulator, exchange, credential)
    assert (result.status, result.error_code, result.attempts, result.scope) == (Status.INVALID, code, 1, None)


@pytest.mark.parametrize("exchange", sorted(WIRE_CASES))
def test_a_failed_check_is_not_probed(exchange_simulator, sim_credential, exchange):
    credential = sim_credential(exchange, "permission_denied")
    result = check(exchange_simulator, exchange, credential)
    assert result.status is Status.INVALID and result.scope is None and result.scope_error == ""
    assert KEY_INFO_PATHS[exchange] not in sent(exchange_simulator, credential)


def test_no_normaliser_no_probe():
    assert "gemini" not in MODULES  # a ccxt exchange without one is checked by balance only


@pytest.mark.parametrize(("allowlist", "expected"), [(["127.0.0.2"], True), (["127.0.0.1"], False)])
def test_our_own_egress_address_is_audited_too(exchange_simulator, sim_credential, allowlist, expected):
    credential = sim_credential("kraken", scope={"ip_allowlist": allowlist})
    result = check(exchange_simulator, "kraken", credential, egress_address="127.0.0.2", published_egress_addresses=())
    assert result.egress_address == "127.0.0.2" and result.scope.egress_allowlisted is expected
