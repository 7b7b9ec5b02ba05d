"""A per-exchange request budget shared by every ccxt instance (and every validator) in the process."""

from __future__ import annotations

import asyncio
import threading
import time


class TokenBucket:
    """Paces acquisitions to `rate` per second, allowing `burst` back to back (GCRA, reservation style).

    Each caller reserves the next free slot under a thread lock and then sleeps until it, so the bucket
    is not tied to one event loop and a cancelled waiter never lets others exceed the rate.
    """

    def __init__(self, rate: float, burst: float = 1.0, clock=time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._interval = 1.0 / rate
        self._tolerance = max(burst - 1.0, 0.0) * self._interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next_slot = 0.0  # theoretical arrival time of the next request

    def reserve(self) -> float:
        """Claim the next slot; return how many seconds the caller must wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(self._next_slot, now)
            self._next_slot = slot + self._interval
            return max(0.0, slot - self._tolerance - now)

    async def acquire(self) -> None:
        """Wait until this caller may send one request."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


_buckets: dict[tuple[str, float], TokenBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(exchange: str, rate: float) -> TokenBucket | None:
    """The process-wide bucket of one exchange at one rate; None when the rate is 0 (unlimited)."""
    if rate <= 0:
        return None
    with _buckets_lock:
        bucket = _buckets.get((exchange, rate))
        if bucket is None:
            bucket = _buckets[(exchange, rate)] = TokenBucket(rate)
        return bucket
