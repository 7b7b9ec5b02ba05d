"""The per-exchange request budget, measured where it matters: at the simulator."""

from __future__ import annotations

import time

from credential_health.models import CredentialRef, Status
from credential_health.validation import ExchangeValidator

RATE = 20.0
SLACK = 2


def busiest_second(timestamps: list[float]) -> int:
    """Most requests in any 1-second window starting at a request."""
    times = sorted(timestamps)
    best, end = 0, 0
    for start, t in enumerate(times):
        while end < len(times) and times[end] < t + 1.0:
            end += 1
        best = max(best, end - start)
    return best


def test_budget_is_honoured_per_exchange_and_shared_by_all_checks(exchange_simulator, sim_credential):
    credentials = {}
    for i in range(60):  # interleaved, as an inventory walk by tenant yields them
        for exchange in ("binance", "kraken"):
            credentials[(exchange, f"t{i}")] = sim_credential(exchange)
    refs = [CredentialRef(tenant, exchange, "x") for exchange, tenant in credentials]
    validator = ExchangeValidator(exchange_simulator.urls, rate_limit_per_second=RATE, attempts=1,
                                  request_timeout_seconds=10, concurrency=32)
    started = time.monotonic()
    results = validator.validate_all(refs, lambda ref: credentials[(ref.exchange, ref.tenant_id)])
    wall = time.monotonic() - started

    assert all(r.status is Status.VALID for r in results)
    assert wall >= 2.5  # 60 requests per exchange at 20/s
    assert wall < 4.5  # the two exchanges have separate budgets and run side by side
    for exchange in ("binance", "kraken"):
        times = [r.at for r in exchange_simulator.requests(exchange=exchange)]
        assert len(times) == 60
        assert busiest_second(times) <= RATE + SLACK


def test_simulator_budget_turns_into_rate_limited_results(exchange_simulator, sim_credential):
    # 100 weight per minute and 20 per account call: the sixth call is over budget (429), later ones banned (418)
    exchange_simulator.configure(weight_per_minute=100, ban_after=2)
    credentials = {f"t{i}": sim_credential("binance") for i in range(9)}
    refs = [CredentialRef(tenant, "binance", "x") for tenant in credentials]
    validator = ExchangeValidator(exchange_simulator.urls, attempts=1, concurrency=1)
    results = validator.validate_all(refs, lambda ref: credentials[ref.tenant_id])
    codes = [r.error_code for r in results]
    assert codes == ["ok"] * 5 + ["rate_limited"] * 4
    assert all(r.status is Status.UNKNOWN for r in results[5:])
