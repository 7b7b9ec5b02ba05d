"""Only the exchange's own answer decides: through the simulator and the real ccxt client over HTTP."""

from __future__ import annotations

import pytest

from credential_health.models import Status
from credential_health.sandbox.transport import BAD_BODIES, BARE_STATUS
from credential_health_tests.validation.test_behaviours import ATTEMPTS, EXCHANGES, check_one

# behaviour -> exchange -> (error code, the exchange's answer the simulator sends)
REJECTIONS = {
    "revoked": {
        "binance": ("auth_rejected", "-2015"),
        "kraken": ("auth_rejected", "EAPI:Invalid key"),
        "coinbase": ("auth_rejected", "authentication_error"),
        "kucoin": ("auth_rejected", "400003"),
    },
    "bad_key_format": {
        "binance": ("auth_rejected", "-2014"),
        "kraken": ("auth_rejected", "EAPI:Invalid key"),
        "coinbase": ("auth_rejected", "authentication_error"),
        "kucoin": ("auth_rejected", "400003"),
    },
    "bad_signature": {
        "binance": ("auth_rejected", "-1022"),
        "kraken": ("auth_rejected", "EAPI:Invalid signature"),
        "coinbase": ("auth_rejected", "authentication_error"),
        "kucoin": ("auth_rejected", "400005"),
    },
    "permission_denied": {
        "binance": ("permission_denied", "-1002"),
        "kraken": ("permission_denied", "EGeneral:Permission denied"),
        "coinbase": ("permission_denied", "invalid_scope"),
        "kucoin": ("permission_denied", "400007"),
    },
    "suspended": {
        "binance": ("account_suspended", "-3022"),
        "kraken": ("account_suspended", "EAuth:Account temporary disabled"),
        "coinbase": ("account_suspended", "invalid_authentication_method"),
        "kucoin": ("account_suspended", "411100"),
    },
}
for _behaviour, _per in {  # OKX's and Bybit's codes (sandbox/okx.py, sandbox/bybit.py)
    "revoked": {"okx": ("auth_rejected", '"50111"'), "bybit": ("auth_rejected", '"retCode": 10003')},
    "bad_key_format": {"okx": ("auth_rejected", '"50111"'), "bybit": ("auth_rejected", '"retCode": 10003')},
    "bad_signature": {"okx": ("auth_rejected", '"50113"'), "bybit": ("auth_rejected", '"retCode": 10004')},
    "permission_denied": {"okx": ("permission_denied", '"50120"'), "bybit": ("permission_denied", "bybit 10005")},
    "suspended": {"okx": ("account_suspended", '"50007"'), "bybit": ("account_suspended", '"retCode": 10008')},
}.items():
    REJECTIONS[_behaviour].update(_per)
# ccxt's KuCoin asks the account mode first; a non-JSON answer to it reads as "not unified", so that attempt goes
# on to the balance call (which gets the same broken answer): one extra signed call in the whole check.
NON_JSON = ("empty_body", "truncated_body", "html_body")


def extra_calls(exchange: str, behaviour: str) -> int:
    return int(exchange == "kucoin" and behaviour in NON_JSON)


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize("behaviour", sorted(BARE_STATUS))
def test_bare_auth_status_is_unknown_and_retried(exchange_simulator, sim_credential, exchange, behaviour):
    credential = sim_credential(exchange, behaviour)
    result = check_one(exchange_simulator.urls, exchange, credential)
    assert (result.status, result.error_code, result.attempts) == (Status.UNKNOWN, "transport_auth", ATTEMPTS)
    assert len(exchange_simulator.requests(api_key=credential.api_key)) == ATTEMPTS
    status = BARE_STATUS[behaviour][0]
    assert f"HTTP {status} without an exchange error body" in result.error_message
    assert "<html" not in result.error_message


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize("behaviour", BAD_BODIES)
def test_200_without_an_account_answer_is_bad_response(exchange_simulator, sim_credential, exchange, behaviour):
    credential = sim_credential(exchange, behaviour)
    result = check_one(exchange_simulator.urls, exchange, credential)
    assert (result.status, result.error_code, result.attempts) == (Status.UNKNOWN, "bad_response", ATTEMPTS)
    assert len(exchange_simulator.requests(api_key=credential.api_key)) == ATTEMPTS + extra_calls(exchange, behaviour)
    assert result.error_message.startswith(f"HTTP 200: not an account answer from {exchange}")


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize("behaviour", sorted(REJECTIONS))
def test_every_exchange_coded_rejection_is_invalid_at_once(exchange_simulator, sim_credential, exchange, behaviour):
    credential = sim_credential(exchange, behaviour)
    result = check_one(exchange_simulator.urls, exchange, credential)
    code, evidence = REJECTIONS[behaviour][exchange]
    assert (result.status, result.error_code, result.attempts) == (Status.INVALID, code, 1)
    assert evidence in result.error_message  # the stored message keeps the exchange's own word


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_a_bad_answer_then_a_real_one_is_valid(exchange_simulator, sim_credential, exchange):
    credential = sim_credential(exchange, "flaky", fail_first=2, fail_with="truncated_body")
    result = check_one(exchange_simulator.urls, exchange, credential)
    # KuCoin's first attempt spends both broken answers (account mode, then balance)
    assert (result.status, result.error_code, result.attempts) == (
        Status.VALID,
        "ok",
        3 - extra_calls(exchange, "truncated_body"),
    )


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize("first", ["truncated_body", "bare_407"])
def test_a_bad_answer_then_the_exchange_rejection_is_invalid(exchange_simulator, sim_credential, exchange, first):
    """A broken 200 on attempt 1 does not make ccxt's Binance treat the -2015 of attempt 2 as a temporary ban."""
    credential = sim_credential(
        exchange, "flaky", fail_first=1 + extra_calls(exchange, first), fail_with=first, then="revoked"
    )
    result = check_one(exchange_simulator.urls, exchange, credential)
    assert (result.status, result.error_code, result.attempts) == (Status.INVALID, "auth_rejected", 2)
