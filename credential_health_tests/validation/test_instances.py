"""How ccxt instances are built: URL override, error-map aliasing, independent copies, quiet logging."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async

from credential_health.models import ExchangeSecret
from credential_health.validation.instances import (
    QUIET_LOGGER,
    _paced_class,
    build_exchange,
    default_ssl_context,
    missing_credentials,
    override_api_urls,
)

BASE = "http://127.0.0.1:9/binance"


def test_every_binance_api_url_moves_to_the_base_with_its_path():
    real = ccxt_async.binance().urls["api"]
    local = override_api_urls(real, BASE + "/")
    assert set(local) == set(real)
    assert local["private"] == BASE + "/api/v3" and local["sapi"] == BASE + "/sapi/v1"
    assert local["fapiPrivate"] == BASE + "/fapi/v1" and local["dapiPublic"] == BASE + "/dapi/v1"
    assert override_api_urls(ccxt_async.kraken().urls["api"], "http://h/kraken")["private"] == "http://h/kraken"
    assert override_api_urls({"nested": {"rest": "https://x.example/v2/"}, "none": None}, "http://b") == {
        "nested": {"rest": "http://b/v2"},
        "none": None,
    }


def test_binance_spot_error_codes_apply_at_an_overridden_url():
    exchange = _paced_class("binance")({"session": None})
    url = BASE + "/api/v3/account?timestamp=1"
    assert "-3022" not in exchange.get_exceptions_by_url(url, "exact")  # ccxt alone: only api.binance.com
    exchange._aliases = ((BASE + "/api/v3", "https://api.binance.com/api/v3"),)
    assert exchange.get_exceptions_by_url(url, "exact")["-3022"] is ccxt.AccountSuspended


def test_instances_are_independent_copies():
    secret_a, secret_b = ExchangeSecret("key-a", "secret-a"), ExchangeSecret("key-b", "secret-b")

    async def build() -> tuple:
        async with aiohttp.ClientSession() as session:
            ssl_context = default_ssl_context()
            a = build_exchange("binance", secret_a, session, ssl_context, 3, BASE, None)
            b = build_exchange("binance", secret_b, session, ssl_context, 3, BASE, None)
            a.options["hasAlreadyAuthenticatedSuccessfully"] = True
            pair = (
                a.apiKey,
                b.apiKey,
                b.options.get("hasAlreadyAuthenticatedSuccessfully"),
                a.timeout,
                a.urls["api"]["private"],
                sorted(a.markets),
                a.session is session,
                a.own_session,
            )
            await a.close()
            await b.close()
            return (*pair, session.closed, a.session)

    result = asyncio.run(build())
    assert result == (
        "key-a",
        "key-b",
        False,
        3000,
        BASE + "/api/v3",
        ["BTC/USDT", "ETH/USDT"],
        True,
        False,
        False,
        None,
    )


def test_missing_credentials_follow_ccxt_required_credentials():
    assert missing_credentials("kucoin", ExchangeSecret("k", "s")) == ["password"]
    assert missing_credentials("kucoin", ExchangeSecret("k", "s", password="p")) == []
    assert missing_credentials("binance", ExchangeSecret("k", "")) == ["secret"]


def test_quiet_logger_drops_debug_and_redacts_the_rest(caplog):
    caplog.set_level(logging.DEBUG)
    QUIET_LOGGER.debug("GET %s", "https://x/api?signature=abc")
    QUIET_LOGGER.info("info %s", "https://x/api?signature=abc")
    QUIET_LOGGER.warning("binance requires to release all resources")
    QUIET_LOGGER.error("error token=abcdef")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "info https://x/api?<redacted>",
        "binance requires to release all resources",
        "error token=<redacted>",
    ]
