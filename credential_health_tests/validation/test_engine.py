"""The validator as a whole: mixed inputs, aborting, closing, streaming and the sync/async entry points."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
import warnings

import aiohttp
import pytest
from ccxt.async_support.base.exchange import Exchange as CcxtAsyncExchange

from credential_health.models import CredentialRef, ExchangeSecret, MalformedSecret, SecretUnavailable, Status
from credential_health.settings import Settings
from credential_health.validation import ExchangeValidator
from credential_health.validation import validator as validator_module
from credential_health_tests.fixtures.simulator import new_secret


class VaultDown(Exception):
    """Stands for an infrastructure failure while reading a secret."""


def fast(urls, **overrides) -> ExchangeValidator:
    options = {"attempts": 3, "retry_delay_seconds": 0.01, "request_timeout_seconds": 2, "concurrency": 4}
    return ExchangeValidator(urls, **{**options, **overrides})


def test_bad_inputs_yield_results_without_stopping_the_others(exchange_simulator, sim_credential):
    good = {"binance": sim_credential("binance"), "kraken": sim_credential("kraken")}
    kraken_not_base64 = sim_credential("kraken")
    refs = {
        "ok-binance": CredentialRef("ok-binance", "binance", "t"),
        "ok-kraken": CredentialRef("ok-kraken", "kraken", "t"),
        "unknown-exchange": CredentialRef("unknown-exchange", "not-an-exchange", "t"),
        "malformed": CredentialRef("malformed", "binance", "t"),
        "unavailable": CredentialRef("unavailable", "kraken", "t"),
        "kucoin-no-password": CredentialRef("kucoin-no-password", "kucoin", "t"),
        "empty-secret": CredentialRef("empty-secret", "binance", "t"),
        "kraken-not-base64": CredentialRef("kraken-not-base64", "kraken", "t"),
    }
    fetched = []

    def fetch(ref: CredentialRef) -> ExchangeSecret:
        fetched.append(ref.tenant_id)
        if ref.tenant_id == "malformed":
            raise MalformedSecret("field 'secret' is missing")
        if ref.tenant_id == "unavailable":
            raise SecretUnavailable("deleted since the walk")
        if ref.tenant_id == "kucoin-no-password":
            return ExchangeSecret(api_key="kucoin-key", secret="kucoin-secret")
        if ref.tenant_id == "empty-secret":
            return ExchangeSecret(api_key="some-key", secret="")
        if ref.tenant_id == "kraken-not-base64":
            return ExchangeSecret(api_key=kraken_not_base64.api_key, secret="not-base64!")
        return good[ref.exchange]

    results = {r.ref.tenant_id: r for r in fast(exchange_simulator.urls).validate_all(refs.values(), fetch)}
    outcome = {name: (r.status, r.error_code, r.attempts) for name, r in results.items()}
    assert outcome == {
        "ok-binance": (Status.VALID, "ok", 1),
        "ok-kraken": (Status.VALID, "ok", 1),
        "unknown-exchange": (Status.INVALID, "unsupported_exchange", 0),
        "malformed": (Status.INVALID, "malformed_secret", 0),
        "unavailable": (Status.UNKNOWN, "secret_unavailable", 0),
        "kucoin-no-password": (Status.INVALID, "malformed_secret", 0),
        "empty-secret": (Status.INVALID, "malformed_secret", 0),
        "kraken-not-base64": (Status.INVALID, "malformed_secret", 1),
    }
    assert "password" in results["kucoin-no-password"].error_message
    assert "unknown-exchange" not in fetched  # no secret is read for an exchange ccxt cannot check


def test_an_infrastructure_failure_aborts_the_run_and_cancels_checks(exchange_simulator, sim_credential):
    exchange_simulator.configure(latency_ms=1000)
    credential = sim_credential("binance")
    refs = [CredentialRef(f"t{i}", "binance", "x") for i in range(40)]

    def fetch(ref: CredentialRef) -> ExchangeSecret:
        if ref.tenant_id == "t5":
            raise VaultDown("vault sealed")
        return credential

    started = time.monotonic()
    with pytest.raises(VaultDown, match="vault sealed"):
        fast(exchange_simulator.urls, concurrency=8).validate_all(refs, fetch)
    assert time.monotonic() - started < 2.0  # did not wait for the in-flight 1 s checks (5 s in all)
    assert len(exchange_simulator.requests()) <= 8
    deadline = time.monotonic() + 2
    while exchange_simulator.state.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert exchange_simulator.state.in_flight == 0  # the cancelled requests' connections were closed


def test_every_instance_and_the_shared_session_are_closed(exchange_simulator, sim_credential, monkeypatch, caplog):
    closed = []
    original_close = CcxtAsyncExchange.close

    async def counting_close(self, *args, **kwargs):
        closed.append(self.id)
        return await original_close(self, *args, **kwargs)

    monkeypatch.setattr(CcxtAsyncExchange, "close", counting_close)
    behaviours = ["valid", "revoked", "timeout", "flaky", "server_error"]
    credentials = {(e, b): sim_credential(e, b) for e in ("binance", "kraken") for b in behaviours}
    refs = [CredentialRef(b, e, "t") for e, b in credentials]
    gc.collect()  # earlier tests' garbage must not be blamed on this validation
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = fast(exchange_simulator.urls, request_timeout_seconds=0.3).validate_all(
            refs, lambda ref: credentials[(ref.exchange, ref.tenant_id)]
        )
        gc.collect()
    assert len(results) == len(refs)
    assert sorted(closed) == sorted(ref.exchange for ref in refs)
    assert not [w for w in caught if "nclosed" in str(w.message)]
    assert "nclosed" not in caplog.text and "release all resources" not in caplog.text
    assert not [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed]


def test_refs_are_consumed_lazily_with_bounded_checks_in_flight(exchange_simulator, sim_credential):
    exchange_simulator.configure(latency_ms=50)
    credential = sim_credential("kraken")
    consumed = []

    def refs():
        for i in range(30):
            consumed.append(i)
            yield CredentialRef(f"t{i}", "kraken", "x")

    stream = fast(exchange_simulator.urls, concurrency=4).validate_iter(refs(), lambda ref: credential)
    first = next(stream)
    assert first.status is Status.VALID
    assert len(consumed) <= 5  # the window: 4 in flight plus none queued
    rest = list(stream)
    assert len(rest) == 29
    assert exchange_simulator.state.max_in_flight <= 4


def test_breaking_out_of_validate_iter_closes_the_run(exchange_simulator, sim_credential):
    exchange_simulator.configure(latency_ms=100)
    credential = sim_credential("binance")
    refs = [CredentialRef(f"t{i}", "binance", "x") for i in range(20)]
    for _result in fast(exchange_simulator.urls).validate_iter(refs, lambda ref: credential):
        break
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed]
    assert len(exchange_simulator.requests()) < 20


def test_validate_stream_in_the_callers_loop(exchange_simulator, sim_credential):
    credential = sim_credential("kraken")

    async def run() -> list:
        refs = [CredentialRef(f"t{i}", "kraken", "x") for i in range(6)]
        return [r async for r in fast(exchange_simulator.urls).validate_stream(refs, lambda ref: credential)]

    assert [r.status for r in asyncio.run(run())] == [Status.VALID] * 6


def test_validate_all_from_a_plain_thread_and_from_inside_a_loop(exchange_simulator, sim_credential):
    credential = sim_credential("binance")
    refs = [CredentialRef(f"t{i}", "binance", "x") for i in range(3)]
    validator = fast(exchange_simulator.urls)
    from_thread: list = []
    worker = threading.Thread(target=lambda: from_thread.extend(validator.validate_all(refs, lambda r: credential)))
    worker.start()
    worker.join(10)
    seen = []

    async def inside_loop() -> list:
        return validator.validate_all(refs, lambda r: credential, on_result=seen.append)

    from_loop = asyncio.run(inside_loop())
    assert [r.status for r in from_thread] == [Status.VALID] * 3
    assert [r.status for r in from_loop] == [Status.VALID] * 3
    assert seen == from_loop


def test_from_settings(exchange_simulator, sim_credential):
    settings = Settings.from_env(
        {
            "CREDENTIAL_HEALTH_EXCHANGE_URLS": json.dumps(exchange_simulator.urls),
            "CREDENTIAL_HEALTH_CHECK_RETRIES": "2",
            "CREDENTIAL_HEALTH_CHECK_RETRY_DELAY_SECONDS": "0.01",
            "CREDENTIAL_HEALTH_CHECK_TIMEOUT_SECONDS": "3",
            "CREDENTIAL_HEALTH_CHECK_CONCURRENCY": "5",
            "CREDENTIAL_HEALTH_EXCHANGE_RATE_LIMIT": "0",
        }
    )
    validator = ExchangeValidator.from_settings(settings)
    assert (
        validator.attempts,
        validator.retry_delay_seconds,
        validator.request_timeout_seconds,
        validator.concurrency,
        validator.rate_limit_per_second,
    ) == (2, 0.01, 3.0, 5, 0.0)
    credential = sim_credential("kraken", "server_error")
    [result] = validator.validate_all([CredentialRef("a", "kraken", "t")], lambda ref: credential)
    assert (result.status, result.error_code, result.attempts) == (Status.UNKNOWN, "exchange_unavailable", 2)


def test_constructor_rejects_nonsense():
    with pytest.raises(ValueError):
        ExchangeValidator(attempts=0)
    with pytest.raises(ValueError):
        ExchangeValidator(concurrency=0)


def test_other_exchanges_use_ccxt_defaults_at_the_overridden_url(exchange_simulator):
    # bitstamp is not pre-seeded: ccxt builds a full instance and loads markets itself (here: from a URL
    # nothing answers on, so the check ends unknown rather than raising)
    urls = {"bitstamp": exchange_simulator.base_url + "/nothing-here"}
    secret = new_secret("bitstamp")
    [result] = fast(urls, attempts=1).validate_all([CredentialRef("a", "bitstamp", "t")], lambda ref: secret)
    assert result.status is Status.UNKNOWN
    assert secret.secret not in result.error_message and secret.api_key not in result.error_message


def test_a_failure_while_building_the_client_is_one_unknown_result(exchange_simulator, sim_credential, monkeypatch):
    credential = sim_credential("kraken")
    real_build = validator_module.build_exchange

    def build(exchange_id, secret, *args):
        if exchange_id == "binance":
            raise RuntimeError(f"cannot build a client for {secret.api_key}")
        return real_build(exchange_id, secret, *args)

    monkeypatch.setattr(validator_module, "build_exchange", build)
    refs = [CredentialRef("a", "binance", "t"), CredentialRef("b", "kraken", "t")]
    results = {r.ref.exchange: r for r in fast(exchange_simulator.urls).validate_all(refs, lambda ref: credential)}
    assert (results["binance"].status, results["binance"].error_code) == (Status.UNKNOWN, "unexpected")
    assert credential.api_key not in results["binance"].error_message
    assert results["kraken"].status is Status.VALID


def test_validate_iter_refuses_to_run_inside_a_loop():
    async def inside_loop() -> None:
        next(ExchangeValidator().validate_iter([], lambda ref: None))

    with pytest.raises(RuntimeError, match="validate_stream"):
        asyncio.run(inside_loop())


def test_no_refs_no_results():
    assert ExchangeValidator().validate_all([], lambda ref: None) == []
