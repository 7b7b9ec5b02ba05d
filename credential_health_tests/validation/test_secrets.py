"""No key, secret or signature in any result, log record or message; one log line per check."""

from __future__ import annotations

import asyncio
import logging
import re

import ccxt.async_support as ccxt_async
import pytest

from credential_health.models import CredentialRef, ExchangeSecret
from credential_health.validation import ExchangeValidator
from credential_health.validation.instances import override_api_urls
from credential_health_tests.fixtures.simulator import new_secret

BEHAVIOURS = [
    "valid",
    "revoked",
    "permission_denied",
    "suspended",
    "rate_limited",
    "timeout",
    "server_error",
    "maintenance",
    "clock_skew",
    "flaky",
]
SIGNATURE_LIKE = re.compile(r"[0-9a-f]{64}|signature=|API-Sign", re.IGNORECASE)


def capture_everything(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("ccxt", "ccxt.base.exchange", "ccxt.async_support.base.exchange", "aiohttp", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)


def haystacks(results, caplog) -> list[str]:
    texts = [caplog.text]
    for record in caplog.records:
        texts += [record.getMessage(), str(record.args), str(record.exc_info)]
    for result in results:
        texts += [repr(result), str(result.error_message)]
    return texts


def test_no_secret_anywhere(exchange_simulator, sim_credential, caplog):
    capture_everything(caplog)
    credentials: dict[tuple[str, str], ExchangeSecret] = {}
    for exchange in ("binance", "kraken"):
        for behaviour in BEHAVIOURS:
            credentials[(exchange, behaviour)] = sim_credential(exchange, behaviour)
        registered = sim_credential(exchange)
        credentials[(exchange, "wrong-secret")] = ExchangeSecret(registered.api_key, new_secret(exchange).secret)
        credentials[(exchange, "unknown-key")] = new_secret(exchange)
    refs = [CredentialRef(label, exchange, "trading") for exchange, label in credentials]
    validator = ExchangeValidator(
        exchange_simulator.urls, attempts=2, retry_delay_seconds=0.01, request_timeout_seconds=0.3, concurrency=8
    )
    results = validator.validate_all(refs, lambda ref: credentials[(ref.exchange, ref.tenant_id)])

    assert len(results) == len(refs)
    sensitive = {value for credential in credentials.values() for value in credential.sensitive_values()}
    for text in haystacks(results, caplog):
        assert not [value for value in sensitive if value in text]
        assert not SIGNATURE_LIKE.search(text), text
    check_lines = [r for r in caplog.records if r.name == "credential_health.validation.validator"]
    assert len(check_lines) == len(results)  # one line per check, never more


def test_ccxt_itself_would_have_logged_the_key(exchange_simulator, sim_credential, caplog):
    """Guards the test above: ccxt's own DEBUG lines carry the key, so dropping them is what keeps logs clean."""
    capture_everything(caplog)
    credential = sim_credential("binance")
    api = override_api_urls(ccxt_async.binance().urls["api"], exchange_simulator.urls["binance"])

    async def plain_ccxt() -> None:
        exchange = ccxt_async.binance({**credential.ccxt_config(), "urls": {"api": api}})
        try:
            await exchange.privateGetAccount()
        finally:
            await exchange.close()

    asyncio.run(plain_ccxt())
    assert credential.api_key in caplog.text


@pytest.mark.parametrize("exchange", ["binance", "kraken"])
def test_timeout_message_keeps_the_url_but_not_the_query(exchange_simulator, sim_credential, exchange):
    credential = sim_credential(exchange, "timeout")
    validator = ExchangeValidator(exchange_simulator.urls, attempts=1, request_timeout_seconds=0.2)
    [result] = validator.validate_all([CredentialRef("a", exchange, "t")], lambda ref: credential)
    assert result.error_code == "timeout"
    assert result.error_message.startswith("RequestTimeout: ")
    assert exchange_simulator.base_url in result.error_message
    assert "timestamp=" not in result.error_message and len(result.error_message) <= 200
