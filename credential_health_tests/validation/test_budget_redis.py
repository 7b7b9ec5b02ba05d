"""The Redis bucket on the real Redis: one pace and one pause for every client, state that outlives a client."""

from __future__ import annotations

import asyncio
import os
import secrets
import time

import pytest
import redis

from credential_health.validation.budget import BudgetConfig
from credential_health.validation.redis_budget import RedisBudgets
from credential_health_tests.fixtures.services import unavailable

REDIS_URL = os.environ.get("CREDENTIAL_HEALTH_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own on the running Redis, deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")
    prefix = f"credential_health_test:{secrets.token_hex(6)}"
    yield prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def run(coroutine):
    return asyncio.run(coroutine)


def test_two_clients_share_one_pace(redis_prefix):
    async def go() -> float:
        first, second = RedisBudgets(REDIS_URL, redis_prefix), RedisBudgets(REDIS_URL, redis_prefix)
        buckets = [first.bucket("binance", "127.0.0.2", 20), second.bucket("binance", "127.0.0.2", 20)]
        started = time.monotonic()
        await asyncio.gather(*(buckets[i % 2].acquire(4) for i in range(6)))  # 6 account calls at 5 a second
        elapsed = time.monotonic() - started
        await first.aclose()
        await second.aclose()
        return elapsed

    assert 0.95 <= run(go()) < 1.5


def test_egress_addresses_and_exchanges_have_their_own_buckets(redis_prefix):
    async def go() -> list[float]:
        budgets = RedisBudgets(REDIS_URL, redis_prefix)
        waits = [
            await budgets.bucket(exchange, egress, 1).reserve(1)
            for exchange, egress in [
                ("binance", "127.0.0.2"),
                ("binance", "127.0.0.3"),
                ("kraken", "127.0.0.2"),
                ("binance", "127.0.0.2"),
            ]
        ]
        await budgets.aclose()
        return waits

    waits = run(go())
    assert waits[:3] == [0, 0, 0] and 0.9 < waits[3] <= 1.0


def test_a_pause_set_by_one_client_holds_every_other(redis_prefix):
    async def go() -> tuple[float, float]:
        first, second = RedisBudgets(REDIS_URL, redis_prefix), RedisBudgets(REDIS_URL, redis_prefix)
        await first.bucket("binance", "", 100).apause(0.6)
        await first.bucket("binance", "", 100).apause(0.1)  # never shortens it
        bucket = second.bucket("binance", "", 100)
        left = await bucket.paused()
        started = time.monotonic()
        await bucket.acquire(1)
        elapsed = time.monotonic() - started
        await first.aclose()
        await second.aclose()
        return left, elapsed

    left, elapsed = run(go())
    assert 0.5 < left <= 0.6
    assert 0.45 < elapsed < 0.9


def test_the_pace_outlives_a_restarted_client(redis_prefix):
    async def go() -> float:
        before = RedisBudgets(REDIS_URL, redis_prefix)
        for _ in range(5):
            await before.bucket("kraken", "", 10).reserve(3)  # 1.5 s of budget spoken for
        await before.aclose()
        after = RedisBudgets(REDIS_URL, redis_prefix)  # a new worker process, same Redis
        wait = await after.bucket("kraken", "", 10).reserve(3)
        await after.aclose()
        return wait

    assert 1.3 < run(go()) <= 1.5
    ttl = redis.Redis.from_url(REDIS_URL).ttl(f"{redis_prefix}:kraken:default")
    assert 0 < ttl <= 62  # state expires once idle: no key lives forever


def test_a_configured_redis_url_puts_the_budget_in_redis(redis_prefix):
    async def go():
        budgets = BudgetConfig(
            every_exchange=20, redis_url=REDIS_URL, redis_prefix=redis_prefix, egress="127.0.0.2"
        ).open()
        bucket = budgets.for_exchange("binance")
        assert budgets.for_exchange("binance") is bucket
        await bucket.acquire(4)
        await budgets.aclose()
        return bucket.key

    assert run(go()) == f"{redis_prefix}:binance:127.0.0.2"
    assert redis.Redis.from_url(REDIS_URL).exists(f"{redis_prefix}:binance:127.0.0.2")
    assert RedisBudgets(REDIS_URL, redis_prefix).bucket("binance", "", 0) is None


def test_an_unreachable_redis_makes_checks_unknown_never_invalid(exchange_simulator, sim_credential):
    from credential_health.models import CredentialRef, Status
    from credential_health.validation import ExchangeValidator
    from credential_health_tests.fixtures.services import free_port

    key = sim_credential("binance")
    budget = BudgetConfig(every_exchange=20, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    validator = ExchangeValidator(exchange_simulator.urls, attempts=1, budget=budget)
    [result] = validator.validate_all([CredentialRef("acme", "binance", "x")], lambda ref: key)
    assert result.status is Status.UNKNOWN
    assert exchange_simulator.requests() == []  # nothing was sent without the budget's say-so
