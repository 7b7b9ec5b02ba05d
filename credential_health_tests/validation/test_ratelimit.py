"""The in-process bucket: cost-aware pacing, bursts, pauses, cancellation safety and the registry."""

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


def test_reservations_are_spaced_by_their_cost():
    clock = FakeClock()
    bucket = TokenBucket(rate=20, clock=clock)  # Binance's 20 ccxt units a second
    assert [round(bucket.reserve(4), 3) for _ in range(4)] == [0.0, 0.2, 0.4, 0.6]  # account calls: 5 a second
    clock.now += 10  # idle time does not bank more than the burst
    assert [round(bucket.reserve(1), 3) for _ in range(2)] == [0.0, 0.05]


def test_burst_allows_back_to_back_requests():
    bucket = TokenBucket(rate=10, burst=2, clock=FakeClock())
    assert [round(bucket.reserve(), 3) for _ in range(5)] == [0.0, 0.0, 0.0, 0.1, 0.2]


def test_a_pause_holds_every_caller_until_its_end_and_the_pace_resumes_after_it():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, clock=clock)
    assert bucket.reserve() == 0.0
    bucket.pause(2.0)
    assert bucket.paused_for() == 2.0
    assert [round(bucket.reserve(), 3) for _ in range(3)] == [2.0, 2.1, 2.2]
    bucket.pause(0.5)  # a shorter pause never shortens the one in place
    assert bucket.paused_for() == 2.0
    clock.now += 3
    assert bucket.paused_for() == 0.0


def test_a_pause_that_starts_while_a_caller_waits_sends_it_back_to_the_queue():
    bucket = TokenBucket(rate=10)

    async def run() -> float:
        bucket.reserve()  # the next caller waits 0.1 s
        waiter = asyncio.ensure_future(bucket.acquire())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        bucket.pause(0.4)
        await waiter
        return time.monotonic() - started

    assert asyncio.run(run()) >= 0.39


def test_acquire_paces_real_time():
    bucket = TokenBucket(rate=50)

    async def run() -> float:
        started = time.monotonic()
        await asyncio.gather(*(bucket.acquire() for _ in range(11)))
        return time.monotonic() - started

    assert 0.18 <= asyncio.run(run()) < 0.5


def test_registry_shares_one_bucket_per_exchange_egress_and_rate():
    assert bucket_for("binance", 0) is None
    first = bucket_for("binance", 7.5, "127.0.0.2")
    assert bucket_for("binance", 7.5, "127.0.0.2") is first
    assert bucket_for("binance", 7.5, "127.0.0.3") is not first
    assert bucket_for("kraken", 7.5, "127.0.0.2") is not first
    assert first.rate == 7.5


def test_rate_must_be_positive():
    with pytest.raises(ValueError):
        TokenBucket(rate=0)
