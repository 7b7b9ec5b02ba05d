"""Real worker processes sharing one Redis budget against the simulator's per-IP limit, and egress binding."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from credential_health.models import CredentialRef, Status
from credential_health.validation import ExchangeValidator
from credential_health.validation.budget import HEADROOM, BudgetConfig
from credential_health_tests.validation.test_budget_redis import REDIS_URL, redis_prefix  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow  # worker processes

# Binance's limit (6,000 weight a minute) scaled to a test: 3,600 weight per 6-second window, i.e. 600 weight/s
# instead of 100; the budget is derived from it exactly as the default is from the real one.
LIMIT_WEIGHT, WINDOW_SECONDS = 3600, 6.0
WEIGHT_PER_UNIT = 5  # ccxt's Binance unit: rateLimit 50 ms = 1,200 units a minute for 6,000 weight
ACCOUNT_WEIGHT = 20
WORKERS, CHECKS_PER_WORKER = 4, 60


def start_workers(specs: list[dict], env: dict[str, str], tmp_path) -> list[subprocess.Popen]:
    workers = []
    for index, spec in enumerate(specs):
        path = tmp_path / f"worker-{index}.json"
        path.write_text(json.dumps(spec))
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "credential_health_tests.validation.budget_worker", str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, **env},
            )
        )
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:  # all at once: the budget, not the start-up, must decide the pace
        worker.stdin.write("go\n")
        worker.stdin.flush()
    return workers


def finish(workers: list[subprocess.Popen]) -> list[dict]:
    summaries = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    return summaries


def test_four_processes_share_one_redis_budget_without_a_429(
    exchange_simulator,
    sim_credential,
    redis_prefix,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    exchange_simulator.configure(weight_per_minute=LIMIT_WEIGHT, window_seconds=WINDOW_SECONDS, ban_after=1)
    limit_weight_per_second = LIMIT_WEIGHT / WINDOW_SECONDS
    units_per_second = HEADROOM * limit_weight_per_second / WEIGHT_PER_UNIT
    specs = []
    for worker in range(WORKERS):
        credentials = []
        for i in range(CHECKS_PER_WORKER):
            key = sim_credential("binance")
            credentials.append({"tenant": f"w{worker}-t{i}", "api_key": key.api_key, "secret": key.secret})
        specs.append({"exchange": "binance", "credentials": credentials})
    env = {
        "CREDENTIAL_HEALTH_EXCHANGE_URLS": json.dumps(exchange_simulator.urls),
        "CREDENTIAL_HEALTH_EXCHANGE_BUDGETS": json.dumps({"binance": units_per_second}),
        "CREDENTIAL_HEALTH_REDIS_URL": REDIS_URL,
        "CREDENTIAL_HEALTH_EGRESS_ADDRESS": "127.0.0.2",
        "CREDENTIAL_HEALTH_CHECK_RETRIES": "1",
        "CREDENTIAL_HEALTH_CHECK_CONCURRENCY": "16",
    }
    env["CREDENTIAL_HEALTH_BUDGET_REDIS_PREFIX"] = redis_prefix
    summaries = finish(start_workers(specs, env, tmp_path))

    assert [s["codes"] for s in summaries] == [{"ok": CHECKS_PER_WORKER}] * WORKERS
    assert exchange_simulator.state.refusals == []  # not one 429 (nor 418) at the exchange
    # the account calls (api pool); each valid check's scope probe (0.1 unit, sapi pool) shares the budget
    times = sorted(r.at for r in exchange_simulator.requests(exchange="binance") if r.path == "/api/v3/account")
    assert len(times) == WORKERS * CHECKS_PER_WORKER
    rate = (len(times) - 1) * ACCOUNT_WEIGHT / (times[-1] - times[0])
    assert rate >= 0.9 * limit_weight_per_second, f"{rate:.0f} weight/s of {limit_weight_per_second:.0f}"
    assert rate <= limit_weight_per_second


def test_each_egress_address_is_its_own_client_of_the_exchange(exchange_simulator, sim_credential):
    exchange_simulator.configure(weight_per_minute=2 * ACCOUNT_WEIGHT, ban_after=100)  # two account calls a minute
    keys = {f"t{i}": sim_credential("binance") for i in range(4)}
    refs = [CredentialRef(tenant, "binance", "x") for tenant in keys]

    def check(egress: str, batch: list[CredentialRef]) -> list[str]:
        validator = ExchangeValidator(
            exchange_simulator.urls, attempts=1, concurrency=1, budget=BudgetConfig.unlimited(), egress_address=egress
        )
        return [r.error_code for r in validator.validate_all(batch, lambda ref: keys[ref.tenant_id])]

    assert check("127.0.0.2", refs[:3]) == ["ok", "ok", "rate_limited"]
    assert check("127.0.0.3", refs[3:]) == ["ok"]  # another source address: a fresh per-IP budget
    assert {(r.ip, r.verdict) for r in exchange_simulator.state.refusals} == {("127.0.0.2", "throttled")}
    results = ExchangeValidator(
        exchange_simulator.urls, attempts=1, budget=BudgetConfig.unlimited(), egress_address="127.0.0.2"
    ).validate_all(refs[:1], lambda ref: keys[ref.tenant_id])
    assert results[0].status is Status.UNKNOWN  # still over its limit: the 429 counts as unknown, not invalid
