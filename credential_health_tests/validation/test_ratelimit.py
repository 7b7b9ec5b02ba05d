"""The shared token bucket: pacing, bursts, cancellation safety and the per-exchange registry."""

from __future__ import annotations

import asyncio
import time

import pytest

from credential_health.validation.ratelimit import TokenBucket, bucket_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reservations_are_spaced_one_interval_apart():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, clock=clock)
    assert [round(bucket.reserve(), 3) for _ in range(4)] == [0.0, 0.1, 0.2, 0.3]
    clock.now += 10  # idle time does not bank more than the burst
    assert [round(bucket.reserve(), 3) for _ in range(2)] == [0.0, 0.1]


def test_burst_allows_back_to_back_requests():
    bucket = TokenBucket(rate=10, burst=3, clock=FakeClock())
    assert [round(bucket.reserve(), 3) for _ in range(5)] == [0.0, 0.0, 0.0, 0.1, 0.2]


def test_acquire_paces_real_time():
    bucket = TokenBucket(rate=50)

    async def run() -> float:
        started = time.monotonic()
        await asyncio.gather(*(bucket.acquire() for _ in range(11)))
        return time.monotonic() - started

    assert 0.18 <= asyncio.run(run()) < 0.5


def test_registry_shares_one_bucket_per_exchange_and_rate():
    assert bucket_for("binance", 0) is None
    first = bucket_for("binance", 7.5)
    assert bucket_for("binance", 7.5) is first
    assert bucket_for("kraken", 7.5) is not first
    assert first.rate == 7.5


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        TokenBucket(rate=0)
