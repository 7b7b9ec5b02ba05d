"""Every scripted simulator behaviour, for both exchanges, through the real ccxt client."""

from __future__ import annotations

import pytest

from credential_health.models import CredentialRef, ExchangeSecret, Status
from credential_health.sandbox import binance, kraken
from credential_health.validation import ExchangeValidator
from credential_health_tests.fixtures.simulator import new_secret

VALID, INVALID, UNKNOWN = Status.VALID, Status.INVALID, Status.UNKNOWN
ATTEMPTS = 3
KEY_INFO_PATHS = {"binance": binance.KEY_INFO_PATH, "kraken": kraken.KEY_INFO_PATH}  # the scope probe's

# behaviour -> exchange -> (status, error_code, attempts made)
EXPECTED = {
    "valid": {"binance": (VALID, "ok", 1), "kraken": (VALID, "ok", 1)},
    "revoked": {"binance": (INVALID, "auth_rejected", 1), "kraken": (INVALID, "auth_rejected", 1)},
    "permission_denied": {"binance": (INVALID, "permission_denied", 1), "kraken": (INVALID, "permission_denied", 1)},
    "suspended": {"binance": (INVALID, "account_suspended", 1), "kraken": (INVALID, "account_suspended", 1)},
    "rate_limited": {"binance": (UNKNOWN, "rate_limited", 3), "kraken": (UNKNOWN, "rate_limited", 3)},
    "timeout": {"binance": (UNKNOWN, "timeout", 3), "kraken": (UNKNOWN, "timeout", 3)},
    "server_error": {"binance": (UNKNOWN, "exchange_unavailable", 3),
                     "kraken": (UNKNOWN, "exchange_unavailable", 3)},
    # Kraken signals maintenance as EService:Unavailable, which ccxt maps to ExchangeNotAvailable.
    "maintenance": {"binance": (UNKNOWN, "maintenance", 3), "kraken": (UNKNOWN, "exchange_unavailable", 3)},
    "clock_skew": {"binance": (UNKNOWN, "clock_skew", 3), "kraken": (UNKNOWN, "clock_skew", 3)},
    "flaky": {"binance": (VALID, "ok", 2), "kraken": (VALID, "ok", 2)},
}
CASES = [(behaviour, exchange) for behaviour, per in EXPECTED.items() for exchange in per]


def validator(urls: dict[str, str], **overrides) -> ExchangeValidator:
    options = {"attempts": ATTEMPTS, "retry_delay_seconds": 0.01, "request_timeout_seconds": 0.3,
               "concurrency": 8}
    return ExchangeValidator(urls, **{**options, **overrides})


def check_one(urls: dict[str, str], exchange: str, credential: ExchangeSecret, **overrides):
    ref = CredentialRef("acme", exchange, "trading")
    [result] = validator(urls, **overrides).validate_all([ref], lambda _ref: credential)
    return result


@pytest.mark.parametrize(("behaviour", "exchange"), CASES)
def test_behaviour_maps_to_status_and_code(exchange_simulator, sim_credential, behaviour, exchange):
    credential = sim_credential(exchange, behaviour, fail_first=1)
    result = check_one(exchange_simulator.urls, exchange, credential)
    status, code, attempts = EXPECTED[behaviour][exchange]
    assert (result.status, result.error_code, result.attempts) == (status, code, attempts)
    # the simulator saw exactly one signed request per attempt (transient cases retried, definitive ones not),
    # then the scope probe after a valid one
    paths = [request.path for request in exchange_simulator.requests(api_key=credential.api_key)]
    probe = KEY_INFO_PATHS[exchange]
    assert (len(paths) - paths.count(probe), paths.count(probe)) == (attempts, int(status is VALID))
    assert (result.error_message is None) == (status is VALID)
    for value in credential.sensitive_values():
        assert value not in (result.error_message or "")
    assert result.checked_at.tzinfo is not None and result.duration_ms >= 0


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_wrong_secret_is_invalid(exchange_simulator, sim_credential, exchange):
    registered = sim_credential(exchange)
    presented = ExchangeSecret(api_key=registered.api_key, secret=new_secret(exchange).secret)
    result = check_one(exchange_simulator.urls, exchange, presented)
    assert (result.status, result.error_code, result.attempts) == (INVALID, "auth_rejected", 1)


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_unknown_key_is_invalid(exchange_simulator, exchange):
    result = check_one(exchange_simulator.urls, exchange, new_secret(exchange))
    assert (result.status, result.error_code) == (INVALID, "auth_rejected")


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_flaky_recovers_within_the_attempts_or_ends_unknown(exchange_simulator, sim_credential, exchange):
    recovers = sim_credential(exchange, "flaky", fail_first=2, fail_with="rate_limited")
    assert check_one(exchange_simulator.urls, exchange, recovers).attempts == 3
    too_flaky = sim_credential(exchange, "flaky", fail_first=3, fail_with="server_error")
    result = check_one(exchange_simulator.urls, exchange, too_flaky)
    assert (result.status, result.error_code, result.attempts) == (UNKNOWN, "exchange_unavailable", 3)


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_single_attempt_means_no_retry(exchange_simulator, sim_credential, exchange):
    credential = sim_credential(exchange, "flaky", fail_first=1)
    result = check_one(exchange_simulator.urls, exchange, credential, attempts=1)
    assert (result.status, result.error_code, result.attempts) == (UNKNOWN, "exchange_unavailable", 1)


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_key_revoked_between_windows(exchange_simulator, sim_credential, exchange):
    credential = sim_credential(exchange)
    assert check_one(exchange_simulator.urls, exchange, credential).status is VALID
    exchange_simulator.set_key(exchange, credential.api_key, credential.secret, "revoked")
    # a fresh instance per check: no "already authenticated" state turns -2015 into DDoSProtection
    result = check_one(exchange_simulator.urls, exchange, credential)
    assert (result.status, result.error_code) == (INVALID, "auth_rejected")


def test_revoked_after_another_keys_success_in_the_same_run(exchange_simulator, sim_credential):
    good, revoked = sim_credential("binance"), sim_credential("binance", "revoked")
    refs = [CredentialRef("a", "binance", "t"), CredentialRef("b", "binance", "t")]
    by_tenant = {"a": good, "b": revoked}
    results = validator(exchange_simulator.urls, concurrency=1).validate_all(
        refs, lambda ref: by_tenant[ref.tenant_id])
    assert [(r.ref.tenant_id, r.error_code) for r in results] == [("a", "ok"), ("b", "auth_rejected")]


@pytest.mark.parametrize(("exchange", "code"), [("binance", "timeout"), ("kraken", "timeout")])
def test_hang_longer_than_the_cap_ends_as_a_gateway_timeout(exchange_simulator, sim_credential, exchange, code):
    exchange_simulator.configure(hang_cap_seconds=0.05)
    credential = sim_credential(exchange, "timeout")
    result = check_one(exchange_simulator.urls, exchange, credential, request_timeout_seconds=5)
    assert (result.status, result.error_code, result.attempts) == (UNKNOWN, code, 3)
