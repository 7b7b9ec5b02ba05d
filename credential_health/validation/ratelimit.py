"""The in-process exchange budget: a cost-aware token bucket (GCRA, reservation style) that can be paused.

One bucket per (exchange, egress address) is shared by every ccxt instance and every validator in the process.
The Redis bucket (redis_budget.py) runs the same arithmetic in a Lua script, for budgets shared across processes.
"""

from __future__ import annotations

import asyncio
import threading
import time


class TokenBucket:
    """Paces spending to `rate` cost units per second, allowing `burst` units back to back.

    Each caller reserves the next free slot under a thread lock and then sleeps until it, so the bucket is not
    tied to one event loop and a cancelled waiter never lets others exceed the rate. `pause()` stops every
    caller until a given time (an exchange's Retry-After): slots are never handed out inside a pause.
    """

    def __init__(self, rate: float, burst: float = 0.0, clock=time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst
        self._tolerance = max(burst, 0.0) / rate  # seconds a caller may run ahead of the steady pace
        self._clock = clock
        self._lock = threading.Lock()
        self._next_slot = 0.0  # theoretical time at which the bucket is empty again
        self._paused_until = 0.0

    def reserve(self, cost: float = 1.0) -> float:
        """Claim `cost` units; return how many seconds the caller must wait before sending."""
        with self._lock:
            now = self._clock()
            start = max(self._next_slot, now, self._paused_until)
            self._next_slot = start + cost / self.rate
            return max(0.0, start - self._tolerance - now, self._paused_until - now)

    def paused_for(self) -> float:
        """Seconds left in the current pause (0 when not paused)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def pause(self, seconds: float) -> None:
        """Stop every caller for `seconds` from now (never shortens a longer pause already in place)."""
        with self._lock:
            until = self._clock() + max(seconds, 0.0)
            self._paused_until = max(self._paused_until, until)
            self._next_slot = max(self._next_slot, self._paused_until)

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until this caller may send a request of `cost` units."""
        while True:
            delay = self.reserve(cost)
            if delay <= 0:
                return
            await asyncio.sleep(delay)
            if self.paused_for() <= 0:  # a pause that began while we slept voids the slot: queue again
                return

    async def apause(self, seconds: float) -> None:
        """Async form of pause(), the interface the Redis bucket shares."""
        self.pause(seconds)


_buckets: dict[tuple[str, str, float, float], TokenBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(exchange: str, rate: float, egress: str = "", burst: float = 0.0) -> TokenBucket | None:
    """The process-wide bucket of one exchange and egress at one rate; None when the rate is 0 (unlimited)."""
    if rate <= 0:
        return None
    with _buckets_lock:
        key = (exchange, egress, rate, burst)
        bucket = _buckets.get(key)
        if bucket is None:
            bucket = _buckets[key] = TokenBucket(rate, burst)
        return bucket
