"""Every scripted simulator behaviour, for every simulated exchange, through the real ccxt client."""

from __future__ import annotations

import secrets

import pytest

from credential_health.models import CredentialRef, ExchangeSecret, Status
from credential_health.sandbox import binance, bybit, coinbase, kraken, kucoin, okx
from credential_health.validation import ExchangeValidator
from credential_health_tests.fixtures.simulator import new_secret

VALID, INVALID, UNKNOWN = Status.VALID, Status.INVALID, Status.UNKNOWN
ATTEMPTS = 3
KEY_INFO_PATHS = {
    module.__name__.rsplit(".", 1)[-1]: module.KEY_INFO_PATH  # the scope probe's
    for module in (binance, kraken, coinbase, kucoin, okx, bybit)
}

EXCHANGES = ("binance", "kraken", "coinbase", "kucoin", "okx", "bybit")
# behaviour -> exchange -> (status, error_code, attempts made); the same on every exchange unless listed
SAME = {
    "valid": (VALID, "ok", 1),
    "revoked": (INVALID, "auth_rejected", 1),
    "permission_denied": (INVALID, "permission_denied", 1),
    "suspended": (INVALID, "account_suspended", 1),
    "rate_limited": (UNKNOWN, "rate_limited", 3),
    "timeout": (UNKNOWN, "timeout", 3),
    "server_error": (UNKNOWN, "exchange_unavailable", 3),
    "maintenance": (UNKNOWN, "exchange_unavailable", 3),
    "clock_skew": (UNKNOWN, "clock_skew", 3),
    "flaky": (VALID, "ok", 2),
}
EXPECTED = {behaviour: dict.fromkeys(EXCHANGES, outcome) for behaviour, outcome in SAME.items()}
# Binance's maintenance body is one ccxt maps to OnMaintenance; the others signal it as "unavailable".
EXPECTED["maintenance"]["binance"] = (UNKNOWN, "maintenance", 3)
EXPECTED["maintenance"]["okx"] = (UNKNOWN, "maintenance", 3)  # OKX 50001, ccxt's OnMaintenance
# ccxt's KuCoin fetch_balance first asks the account mode (GET /api/ua/v1/account/mode), signed as well.
PRELIMINARY_CALLS = {"kucoin": 1}


def signed_requests(exchange: str, status: Status, attempts: int) -> int:
    """Signed requests a check makes: one per attempt, plus the preliminary call of the attempt that succeeds."""
    return attempts + (PRELIMINARY_CALLS.get(exchange, 0) if status is VALID else 0)


CASES = [(behaviour, exchange) for behaviour, per in EXPECTED.items() for exchange in per]


def validator(urls: dict[str, str], **overrides) -> ExchangeValidator:
    options = {"attempts": ATTEMPTS, "retry_delay_seconds": 0.01, "request_timeout_seconds": 0.3, "concurrency": 8}
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
    assert (len(paths) - paths.count(probe), paths.count(probe)) == (
        signed_requests(exchange, status, attempts),
        int(status is VALID),
    )
    assert (result.error_message is None) == (status is VALID)
    for value in credential.sensitive_values():
        assert value not in (result.error_message or "")
    assert result.checked_at.tzinfo is not None and result.duration_ms >= 0


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_wrong_secret_is_invalid(exchange_simulator, sim_credential, exchange):
    registered = sim_credential(exchange)
    presented = ExchangeSecret(
        api_key=registered.api_key, secret=new_secret(exchange).secret, password=registered.password
    )
    result = check_one(exchange_simulator.urls, exchange, presented)
    assert (result.status, result.error_code, result.attempts) == (INVALID, "auth_rejected", 1)


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_unknown_key_is_invalid(exchange_simulator, exchange):
    result = check_one(exchange_simulator.urls, exchange, new_secret(exchange))
    assert (result.status, result.error_code) == (INVALID, "auth_rejected")


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_flaky_recovers_within_the_attempts_or_ends_unknown(exchange_simulator, sim_credential, exchange):
    recovers = sim_credential(exchange, "flaky", fail_first=2, fail_with="rate_limited")
    assert check_one(exchange_simulator.urls, exchange, recovers).attempts == 3
    too_flaky = sim_credential(exchange, "flaky", fail_first=3, fail_with="server_error")
    result = check_one(exchange_simulator.urls, exchange, too_flaky)
    assert (result.status, result.error_code, result.attempts) == (UNKNOWN, "exchange_unavailable", 3)


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_single_attempt_means_no_retry(exchange_simulator, sim_credential, exchange):
    credential = sim_credential(exchange, "flaky", fail_first=1)
    result = check_one(exchange_simulator.urls, exchange, credential, attempts=1)
    assert (result.status, result.error_code, result.attempts) == (UNKNOWN, "exchange_unavailable", 1)


@pytest.mark.parametrize("exchange", EXCHANGES)
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
    results = validator(exchange_simulator.urls, concurrency=1).validate_all(refs, lambda ref: by_tenant[ref.tenant_id])
    assert [(r.ref.tenant_id, r.error_code) for r in results] == [("a", "ok"), ("b", "auth_rejected")]


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_hang_longer_than_the_cap_ends_as_a_gateway_timeout(exchange_simulator, sim_credential, exchange):
    exchange_simulator.configure(hang_cap_seconds=0.05)
    credential = sim_credential(exchange, "timeout")
    result = check_one(exchange_simulator.urls, exchange, credential, request_timeout_seconds=5)
    assert (result.status, result.error_code, result.attempts) == (UNKNOWN, "timeout", 3)


def test_kucoin_wrong_passphrase_is_invalid(exchange_simulator, sim_credential):
    registered = sim_credential("kucoin")
    presented = ExchangeSecret(api_key=registered.api_key, secret=registered.secret, password="not-the-passphrase")
    result = check_one(exchange_simulator.urls, "kucoin", presented)
    assert (result.status, result.error_code, result.attempts) == (INVALID, "auth_rejected", 1)
    assert "400004" in result.error_message


def test_kucoin_key_outside_its_ip_whitelist_is_not_allowlisted(exchange_simulator, sim_credential):
    """KuCoin's 400006 names the egress address as the cause: the key is refused from here."""
    credential = sim_credential("kucoin", scope={"trade": True, "ip_allowlist": ["203.0.113.7"]})
    result = check_one(exchange_simulator.urls, "kucoin", credential)
    assert (result.status, result.error_code, result.attempts) == (INVALID, "egress_not_allowlisted", 1)
    assert "400006" in result.error_message


@pytest.mark.parametrize("behaviour", ["valid", "clock_skew", "server_error"])
def test_coinbase_legacy_hmac_key_is_rejected(exchange_simulator, behaviour):
    """A legacy key (16-character name, 32-character secret): ccxt signs CB-ACCESS-* headers, which Coinbase has
    refused since it expired every legacy key in February 2025."""
    credential = ExchangeSecret(api_key=secrets.token_hex(8), secret=secrets.token_hex(16))
    exchange_simulator.set_key("coinbase", credential.api_key, credential.secret, behaviour)
    result = check_one(exchange_simulator.urls, "coinbase", credential)
    assert (result.status, result.error_code, result.attempts) == (INVALID, "auth_rejected", 1)
    [request] = exchange_simulator.requests(api_key=credential.api_key)  # the key was seen: the CB-ACCESS-KEY header
    assert request.path == "/v2/accounts"
