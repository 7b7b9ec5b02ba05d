"""The scope probe through real ccxt against the simulator: one normalised record per exchange, after a valid check.

Each probed exchange slots its cases into WIRE_CASES: the scope the simulator key gets (sandbox.keys.DEFAULT_SCOPE's
fields) and the exact record the probe must produce, None where the exchange does not report a field.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from credential_health.models import CredentialRef, Status
from credential_health.sandbox import binance, kraken
from credential_health.scopes.normalise import MODULES
from credential_health.scopes.record import ScopeRecord
from credential_health.validation import ExchangeValidator
from credential_health.validation.codes import KEY_EXPIRED

EXPIRES = 1_900_000_000  # 2030-03-17
PUBLISHED = ("127.0.0.1",)  # the simulator sees checks from here


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


KEY_INFO_PATHS = {"binance": binance.KEY_INFO_PATH, "kraken": kraken.KEY_INFO_PATH}
WIRE_CASES: dict[str, list[tuple[dict, ScopeRecord]]] = {
    "binance": [  # no IP list in the answer: with a restriction, whether ours is on it cannot be told
        ({}, ScopeRecord(True, False, False, False, None, None, True)),
        ({"trade": False, "withdraw": True, "transfer": True, "ip_allowlist": ["127.0.0.1"], "expires_at": EXPIRES},
         ScopeRecord(False, True, True, True, None, at(EXPIRES), None)),
    ],
    "kraken": [  # transfers need withdraw-funds: can_transfer follows it
        ({}, ScopeRecord(True, False, False, False, (), None, True)),
        ({"trade": False, "withdraw": True, "ip_allowlist": ["127.0.0.0/8"], "expires_at": EXPIRES},
         ScopeRecord(False, True, True, True, ("127.0.0.0/8",), at(EXPIRES), True)),
        ({"ip_allowlist": ["198.51.100.7"]}, ScopeRecord(True, False, False, True, ("198.51.100.7",), None, False)),
    ],
}
CASES = [(exchange, scope, record) for exchange, cases in WIRE_CASES.items() for scope, record in cases]


def check(simulator, exchange: str, credential, **options):
    options = {"attempts": 1, "request_timeout_seconds": 2.0, "published_egress_addresses": PUBLISHED, **options}
    [result] = ExchangeValidator(simulator.urls, **options).validate_all(
        [CredentialRef("acme", exchange, "trading")], lambda ref: credential)
    return result


def sent(simulator, credential) -> list[str]:
    return [request.path for request in simulator.requests(api_key=credential.api_key)]


def test_every_probed_exchange_has_wire_cases():
    assert set(WIRE_CASES) == set(MODULES) and set(KEY_INFO_PATHS) == set(MODULES)


@pytest.mark.parametrize(("exchange", "scope", "record"), CASES)
def test_the_probe_normalises_the_answer(exchange_simulator, sim_credential, exchange, scope, record):
    credential = sim_credential(exchange, scope=scope)
    result = check(exchange_simulator, exchange, credential)
    assert (result.status, result.error_code, result.scope_error) == (Status.VALID, "ok", "")
    assert result.scope == record
    assert sent(exchange_simulator, credential)[-1] == KEY_INFO_PATHS[exchange]  # right after the balance call


@pytest.mark.parametrize("exchange", sorted(WIRE_CASES))
@pytest.mark.parametrize(("answer", "code"), [
    ("server_error", "exchange_unavailable"), ("permission_denied", "permission_denied"),
    ("rate_limited", "rate_limited"), ("malformed", "bad_response"), ("timeout", "timeout"),
    ("bare_403", None), ("html_body", None), ("truncated_body", None),
])
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
def test_a_key_reported_expired_is_invalid(exchange_simulator, sim_credential, exchange):
    expired = int(datetime.now(timezone.utc).timestamp()) - 60
    credential = sim_credential(exchange, scope={"expires_at": expired})
    result = check(exchange_simulator, exchange, credential)
    assert (result.status, result.error_code) == (Status.INVALID, KEY_EXPIRED)
    assert result.scope.expires_at == at(expired) and "expired" in result.error_message


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
    result = check(exchange_simulator, "kraken", credential, egress_address="127.0.0.2",
                   published_egress_addresses=())
    assert result.egress_address == "127.0.0.2" and result.scope.egress_allowlisted is expected
