"""Build one ready-to-use ccxt.async_support instance per check: URLs, markets, pacing, quiet logging."""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import certifi

from credential_health.models import ExchangeSecret
from credential_health.validation.redact import redact

log = logging.getLogger("credential_health.validation.ccxt")

SUPPORTED = frozenset(ccxt.exchanges)
# ccxt credential names an ExchangeSecret can fill; other required names (walletAddress, ...) are never there.
_SECRET_FIELDS = {"apiKey": "api_key", "secret": "secret", "password": "password", "uid": "uid"}


def _spot(symbol: str, base: str, quote: str, market_id: str, base_id: str, quote_id: str) -> dict:
    return {
        "id": market_id,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "baseId": base_id,
        "quoteId": quote_id,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "contract": False,
        "active": True,
        "precision": {"amount": 1e-8, "price": 1e-2},
        "limits": {"amount": {"min": None, "max": None}, "price": {"min": None, "max": None}},
        "info": {},
    }


# Pre-seeded so fetch_balance makes only the signed balance call (Binance loads 8 URLs, Kraken 3 otherwise).
STATIC_MARKETS: dict[str, list[dict]] = {
    "binance": [
        _spot("BTC/USDT", "BTC", "USDT", "BTCUSDT", "BTC", "USDT"),
        _spot("ETH/USDT", "ETH", "USDT", "ETHUSDT", "ETH", "USDT"),
    ],
    "kraken": [
        _spot("BTC/USD", "BTC", "USD", "XXBTZUSD", "XXBT", "ZUSD"),
        _spot("ETH/USD", "ETH", "USD", "XETHZUSD", "XETH", "ZUSD"),
    ],
    "coinbase": [_spot("BTC/USD", "BTC", "USD", "BTC-USD", "BTC", "USD")],
    "kucoin": [_spot("BTC/USDT", "BTC", "USDT", "BTC-USDT", "BTC", "USDT")],
    "okx": [_spot("BTC/USDT", "BTC", "USDT", "BTC-USDT", "BTC", "USDT")],
    "bybit": [_spot("BTC/USDT", "BTC", "USDT", "BTCUSDT", "BTC", "USDT")],
}
# Pre-seeded options that spare fetch_balance its discovery calls. Bybit: ccxt asks /v5/user/query-api and
# /v5/account/info whether the account is unified; wallet-balance now takes accountType=UNIFIED only
# (https://bybit-exchange.github.io/docs/v5/account/wallet-balance), so every account is a UTA 2.0 one.
STATIC_OPTIONS: dict[str, dict] = {
    "bybit": {"enableUnifiedMargin": False, "enableUnifiedAccount": True, "unifiedMarginStatus": 6},
}


class _QuietCcxtLogger:
    """Stands in for ccxt's logger: its DEBUG lines carry signed URLs and key headers, so they are dropped."""

    def debug(self, *args: object, **kwargs: object) -> None:
        pass

    def _forward(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        text = str(msg) % args if args else str(msg)
        log.log(level, "%s", redact(text))

    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        self._forward(logging.INFO, msg, *args)

    def warning(self, msg: object, *args: object, **kwargs: object) -> None:
        self._forward(logging.WARNING, msg, *args)

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        self._forward(logging.ERROR, msg, *args)

    exception = critical = error
    warn = warning


QUIET_LOGGER = _QuietCcxtLogger()


def override_api_urls(api: object, base: str) -> object:
    """Every URL under urls['api'] moved to `base`, keeping its path (``https://api.binance.com/api/v3`` ->
    ``{base}/api/v3``)."""
    if isinstance(api, Mapping):
        return {name: override_api_urls(url, base) for name, url in api.items()}
    if isinstance(api, str):
        return base.rstrip("/") + urlsplit(api).path.rstrip("/")
    return api


def _leaves(api: object) -> list[str]:
    if isinstance(api, Mapping):
        return [url for value in api.values() for url in _leaves(value)]
    return [api] if isinstance(api, str) else []


def retry_after_seconds(code: int, headers: Mapping[str, str]) -> float | None:
    """The pause a 429 or 418 asks for (Retry-After in seconds), or None for any other answer."""
    if code not in (418, 429):
        return None
    raw = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
    try:
        return max(float(raw), 0.0) if raw is not None else None
    except ValueError:  # an HTTP date: not sent by the exchanges served here; wait a conservative minute
        return 60.0


@functools.cache
def _paced_class(exchange_id: str) -> type:
    """A subclass that charges the shared budget ccxt's own cost of each request before sending it, pauses the
    budget when the exchange answers 429/418 with Retry-After, and maps overridden URLs back to the real ones
    where ccxt picks its error map by URL (Binance: spot codes such as -3022 apply only to api.binance.com, so
    at a proxy or simulator they would degrade to a bare ExchangeError)."""
    base = getattr(ccxt_async, exchange_id)

    class Paced(base):  # type: ignore[misc,valid-type]  # ccxt's class for the exchange, picked at runtime
        _pacer = None  # a ratelimit.TokenBucket or redis_budget.RedisBucket, or None (unlimited)
        _aliases: tuple[tuple[str, str], ...] = ()
        # The raw answer is the evidence of a check: keep the parsed body (ccxt already parsed it) and the status.
        enableLastJsonResponse = True
        last_http_status: int | None = None
        _retry_after: float | None = None

        async def fetch2(self, path, api=["public"], method="GET", params={}, config={}):  # noqa: B006 (ccxt's)
            if self._pacer is None:
                return await super().fetch2(path, api, method, params, config)
            # before sign(): a signed timestamp or nonce must not age in a queue
            await self._pacer.acquire(self.calculate_rate_limiter_cost(api, method, path, params, config))
            self._retry_after = None
            try:
                return await super().fetch2(path, api, method, params, config)
            except Exception:
                if self._retry_after is not None:  # the whole exchange on this egress waits, not only this check
                    await self._pacer.apause(self._retry_after)
                raise

        def on_rest_response(self, code, reason, url, method, response_headers, *args):
            self.last_http_status = code
            self._retry_after = retry_after_seconds(code, response_headers or {})
            return super().on_rest_response(code, reason, url, method, response_headers, *args)

        if hasattr(base, "get_exceptions_by_url"):

            def get_exceptions_by_url(self, url, exactOrBroad):  # ccxt's names
                for local, real in self._aliases:
                    if url and url.startswith(local):
                        url = real + url[len(local) :]
                        break
                return super().get_exceptions_by_url(url, exactOrBroad)

    Paced.__name__ = Paced.__qualname__ = base.__name__
    return Paced


@functools.cache
def _template(exchange_id: str, base_url: str | None) -> tuple[object, tuple, tuple[str, ...]]:
    """Per exchange (computed once): overridden urls['api'], URL aliases and the required credential names."""
    probe = getattr(ccxt_async, exchange_id)()
    required = tuple(name for name, needed in probe.requiredCredentials.items() if needed)
    if not base_url:
        return None, (), required
    real = probe.urls.get("api")
    local = override_api_urls(real, base_url)
    pairs = sorted(set(zip(_leaves(local), _leaves(real), strict=True)), key=lambda pair: len(pair[0]), reverse=True)
    return local, tuple(pairs), required


def forget_last_answer(exchange) -> None:
    """Clear the previous attempt's answer, so a later timeout is not judged by an earlier body."""
    exchange.last_http_status = None
    exchange.last_json_response = None
    # Binance turns -2015 into DDoSProtection once a private call "succeeded"; a previous attempt that ends
    # here was no success (a 200 that was not an account answer), so the exchange's rejection must stay one.
    if "hasAlreadyAuthenticatedSuccessfully" in exchange.options:
        exchange.options["hasAlreadyAuthenticatedSuccessfully"] = False


def last_answer(exchange) -> tuple[int | None, object]:
    """HTTP status and parsed body of the instance's last request (None, None when nothing answered)."""
    return exchange.last_http_status, exchange.last_json_response


def missing_credentials(exchange_id: str, secret: ExchangeSecret) -> list[str]:
    """ccxt credential names the exchange requires that the secret lacks."""
    _, _, required = _template(exchange_id, None)
    return [name for name in required if not getattr(secret, _SECRET_FIELDS.get(name, "_absent_"), None)]


def exchange_session(concurrency: int, ssl_context: ssl.SSLContext, egress_address: str = "") -> aiohttp.ClientSession:
    """The one HTTP session of a validation stream, its connections bound to `egress_address` when one is set
    (the source IP the exchange sees, and the one its per-IP limit and the tenant's key whitelist apply to)."""
    local_addr = (egress_address, 0) if egress_address else None
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=ssl_context, local_addr=local_addr)
    # DummyCookieJar: no exchange cookie may travel from one tenant's check to another's.
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def default_ssl_context() -> ssl.SSLContext:
    """One verifying SSL context (certifi CAs, as ccxt uses); building one per instance costs milliseconds."""
    return ssl.create_default_context(cafile=certifi.where())


@functools.lru_cache(maxsize=64)
def _prototype(exchange_id: str, base_url: str | None, timeout_ms: int):
    """A credential-less instance with markets seeded, built once: clones of it skip ccxt's constructor."""
    api_urls, aliases, _ = _template(exchange_id, base_url)
    # session=None makes ccxt treat the session as external (own_session False): it never creates or closes one.
    config: dict = {"session": None, "enableRateLimit": False, "timeout": timeout_ms, "logger": QUIET_LOGGER}
    if api_urls is not None:
        config["urls"] = {"api": api_urls}
    exchange = _paced_class(exchange_id)(config)
    exchange.timeout_on_exit = 0  # close() would otherwise sleep 250 ms
    exchange._aliases = aliases
    if exchange_id in STATIC_MARKETS:
        exchange.set_markets(STATIC_MARKETS[exchange_id])
    exchange.options.update(STATIC_OPTIONS.get(exchange_id, {}))
    return exchange


def _fresh_copy(prototype):
    """An instance with its own copy of every container ccxt may change during a request.

    ccxt's constructor spends 2-6 ms of CPU re-deriving the same describe() data and camelCase aliases; the
    copy costs ~0.15 ms. Per-check state stays per check: options (Binance's hasAlreadyAuthenticatedSuccessfully,
    Kraken's lastNonce) is deep-copied and every other top-level dict/list/set is copied.
    """
    exchange = copy.copy(prototype)
    for name, value in prototype.__dict__.items():
        if type(value) in (dict, list, set):
            exchange.__dict__[name] = _tree_copy(value) if name == "options" else value.copy()
    return exchange


def _tree_copy(value):
    """copy.deepcopy for the plain dicts and lists of ccxt's options, ~5x cheaper (no memo; they hold no cycles)."""
    kind = type(value)
    if kind is dict:
        return {key: _tree_copy(item) for key, item in value.items()}
    if kind is list:
        return [_tree_copy(item) for item in value]
    if kind in (str, int, float, bool, type(None)):
        return value
    return copy.deepcopy(value)


def build_exchange(
    exchange_id: str,
    secret: ExchangeSecret,
    session: aiohttp.ClientSession,
    ssl_context: ssl.SSLContext,
    timeout_seconds: float,
    base_url: str | None,
    pacer=None,
):
    """A fresh instance on the shared session (which ccxt then never closes), with markets pre-seeded."""
    credentials = secret.ccxt_config()
    if exchange_id in STATIC_MARKETS:  # the audited path: only the signed balance call is made
        exchange = _fresh_copy(_prototype(exchange_id, base_url, int(timeout_seconds * 1000)))
        exchange.__dict__.update(credentials)
        exchange.session = session
        exchange.ssl_context = ssl_context
        # open() would otherwise bind the prototype's (unused) throttler to this loop
        exchange.asyncio_loop = asyncio.get_running_loop()
    else:
        api_urls, aliases, _ = _template(exchange_id, base_url)
        config: dict = {
            **credentials,
            "session": session,
            "ssl_context": ssl_context,
            "enableRateLimit": False,
            "timeout": int(timeout_seconds * 1000),
            "logger": QUIET_LOGGER,
        }
        if api_urls is not None:
            config["urls"] = {"api": api_urls}
        exchange = _paced_class(exchange_id)(config)
        exchange.timeout_on_exit = 0
        exchange._aliases = aliases
    exchange._pacer = pacer
    return exchange
