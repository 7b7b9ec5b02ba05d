"""The shared exchange budget: the same GCRA as ratelimit.TokenBucket, kept in Redis and run by Lua scripts.

Every process and machine that points at one Redis and one key prefix shares one bucket per (exchange, egress):
each reservation is one atomic script on Redis's own clock, so workers need no synchronised clocks, and the
state outlives any worker (a restarted worker continues the same pace; a pause set by one holds for all).
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

# KEYS[1]: the bucket hash (tat = time the bucket is empty again, paused = end of a Retry-After pause).
# ARGV: cost / rate (seconds this request occupies), tolerance (burst / rate, seconds). Returns the wait.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
local start = math.max(tat, now, paused)
local new_tat = start + tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', new_tat))
redis.call('EXPIRE', KEYS[1], math.ceil(math.max(new_tat, paused) - now) + 60)
local wait = math.max(0, start - tonumber(ARGV[2]) - now, paused - now)
return string.format('%.6f', wait)
"""

# KEYS[1]: the bucket hash; ARGV[1]: pause length in seconds (0: only report). Returns seconds left in the pause.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
local seconds = tonumber(ARGV[1])
if seconds > 0 then
  paused = math.max(paused, now + seconds)
  local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
  redis.call('HSET', KEYS[1], 'paused', string.format('%.6f', paused), 'tat',
             string.format('%.6f', math.max(tat, paused)))
  redis.call('EXPIRE', KEYS[1], math.ceil(paused - now) + 60)
end
return string.format('%.6f', math.max(0, paused - now))
"""


class RedisBudgets:
    """One Redis connection pool for one event loop, handing out a bucket per (exchange, egress)."""

    def __init__(self, url: str, prefix: str = "credential_health:budget"):
        self.client = aioredis.Redis.from_url(url)
        self.prefix = prefix
        self._reserve = self.client.register_script(_RESERVE)
        self._pause = self.client.register_script(_PAUSE)

    def bucket(self, exchange: str, egress: str, rate: float, burst: float = 0.0) -> RedisBucket | None:
        """The shared bucket of one exchange and egress; None when the rate is 0 (unlimited)."""
        if rate <= 0:
            return None
        return RedisBucket(self, f"{self.prefix}:{exchange}:{egress or 'default'}", rate, burst)

    async def aclose(self) -> None:
        await self.client.aclose()


class RedisBucket:
    """ratelimit.TokenBucket's interface (acquire, apause, paused) over one Redis hash."""

    def __init__(self, owner: RedisBudgets, key: str, rate: float, burst: float):
        self.owner = owner
        self.key = key
        self.rate = rate
        self.burst = burst

    async def reserve(self, cost: float = 1.0) -> float:
        """Claim `cost` units; return how many seconds the caller must wait before sending."""
        return float(await self.owner._reserve(keys=[self.key], args=[cost / self.rate, self.burst / self.rate]))

    async def paused(self) -> float:
        """Seconds left in the current pause (0 when not paused)."""
        return float(await self.owner._pause(keys=[self.key], args=[0]))

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until this caller may send a request of `cost` units."""
        while True:
            delay = await self.reserve(cost)
            if delay <= 0:
                return
            await asyncio.sleep(delay)
            if await self.paused() <= 0:  # a pause that began while we slept voids the slot: queue again
                return

    async def apause(self, seconds: float) -> None:
        """Stop every process using this bucket for `seconds` (never shortens a longer pause)."""
        await self.owner._pause(keys=[self.key], args=[max(seconds, 0.0)])
