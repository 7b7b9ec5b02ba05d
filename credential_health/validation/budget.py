"""How much each exchange lets one egress address spend, and where that budget lives (process or Redis).

Budgets are in ccxt's own cost units: ccxt spaces requests `rateLimit` milliseconds per unit and charges each
endpoint the `cost` of its implicit API entry. Binance's rateLimit of 50 ms is 1,200 units a minute, i.e. one
unit is 5 of Binance's 6,000 request weight per minute; `GET /api/v3/account` costs 4 units, weight 20.
docs/scaling.md lists each default with its source.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import ccxt

from credential_health.validation.ratelimit import bucket_for

HEADROOM = 0.95  # spend at most 95% of a published limit: other traffic of the same address needs some too

# Published per-egress-address limits, in ccxt cost units per second, before headroom.
PUBLISHED_UNITS_PER_SECOND: dict[str, float] = {
    # 6,000 request weight per minute per IP (developers.binance.com/docs/binance-spot-api-docs/rest-api/limits);
    # one ccxt unit is 5 weight, so 6,000 / 5 / 60 = 20 units/s: 5 account calls per second.
    "binance": 20.0,
    # Kraken limits private calls per API key (a counter of 15-20 decaying 0.33-1/s, docs.kraken.com/api/docs/
    # guides/spot-rest-ratelimits), which a check using each key once per window never nears; it publishes no
    # per-IP figure, so an egress keeps to the fastest per-key pace: one BalanceEx (3 units) per second.
    "kraken": 3.0,
}


@functools.cache
def default_units_per_second(exchange: str) -> float:
    """The default budget of one exchange per egress: its published limit (else ccxt's own pace) less headroom."""
    published = PUBLISHED_UNITS_PER_SECOND.get(exchange)
    if published is None:
        rate_limit_ms = getattr(ccxt, exchange)().rateLimit if exchange in ccxt.exchanges else 0
        published = 1000.0 / rate_limit_ms if rate_limit_ms else 0.0
    return published * HEADROOM


@dataclass(frozen=True)
class BudgetConfig:
    """Which budget each exchange gets: `overrides` (per exchange) beat `every_exchange`, which beats the default.

    A rate of 0 means unlimited. `redis_url` set: the buckets live in Redis under `redis_prefix`, shared by
    every process; unset: they live in this process. `egress` names the source address the buckets belong to.
    """

    every_exchange: float | None = None
    overrides: Mapping[str, float] = field(default_factory=dict)
    redis_url: str = ""
    redis_prefix: str = "credential_health:budget"
    egress: str = ""
    burst: float = 0.0  # units that may go back to back after idle time (0: strict pacing)

    @classmethod
    def unlimited(cls) -> BudgetConfig:
        return cls(every_exchange=0.0)

    @classmethod
    def from_settings(cls, settings) -> BudgetConfig:
        """The budget a `credential_health.settings.Settings` describes."""
        return cls(
            every_exchange=settings.exchange_rate_limit,
            overrides=dict(settings.exchange_budgets),
            redis_url=settings.redis_url.get_secret_value(),
            redis_prefix=settings.budget_redis_prefix,
            egress=settings.egress_address,
        )

    def units_per_second(self, exchange: str) -> float:
        if exchange in self.overrides:
            return self.overrides[exchange]
        if self.every_exchange is not None:
            return self.every_exchange
        return default_units_per_second(exchange)

    def open(self) -> Budgets:
        """The buckets for one validation stream (close it when the stream ends)."""
        return Budgets(self)


class Budgets:
    """The buckets one validation stream uses; with Redis, it owns a connection pool bound to its event loop."""

    def __init__(self, config: BudgetConfig):
        self.config = config
        self._redis = None
        if config.redis_url:
            from credential_health.validation.redis_budget import RedisBudgets

            self._redis = RedisBudgets(config.redis_url, config.redis_prefix)
        self._cache: dict[str, object] = {}

    def for_exchange(self, exchange: str):
        """The bucket of `exchange` on this egress (acquire(cost), apause(seconds)), or None when unlimited."""
        if exchange not in self._cache:
            rate = self.config.units_per_second(exchange)
            if self._redis is not None:
                self._cache[exchange] = self._redis.bucket(exchange, self.config.egress, rate, self.config.burst)
            else:
                self._cache[exchange] = bucket_for(exchange, rate, self.config.egress, self.config.burst)
        return self._cache[exchange]

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
