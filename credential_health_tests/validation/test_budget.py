"""The exchange budget as the simulator sees it: charged by ccxt's cost, per exchange and egress, paused by
Retry-After."""

from __future__ import annotations

import time

import ccxt

from credential_health.models import CredentialRef, Status
from credential_health.settings import Settings
from credential_health.validation import ExchangeValidator
from credential_health.validation.budget import BudgetConfig, default_units_per_second
from credential_health.validation.instances import retry_after_seconds

SLACK = 2


def busiest_second_units(requests: list, cost: dict[str, float]) -> float:
    """Most ccxt cost units sent in any 1-second window starting at a request."""
    timed = sorted((r.at, cost[r.path]) for r in requests)
    return max(sum(c for t, c in timed if start <= t < start + 1.0) for start, _ in timed)


def test_requests_are_charged_by_ccxt_cost_per_exchange(exchange_simulator, sim_credential):
    credentials = {}
    for i in range(30):  # interleaved, as an inventory walk by tenant yields them
        for exchange in ("binance", "kraken"):
            credentials[(exchange, f"t{i}")] = sim_credential(exchange)
    refs = [CredentialRef(tenant, exchange, "x") for exchange, tenant in credentials]
    # each check is a balance call and a scope probe, both charged: 41 units/s is 10 Binance checks a second
    # (account 4 + apiRestrictions 0.1), 60 units/s 10 Kraken checks (BalanceEx 3 + GetApiKeyInfo 3)
    budget = BudgetConfig(overrides={"binance": 41, "kraken": 60})
    validator = ExchangeValidator(exchange_simulator.urls, attempts=1, concurrency=32, budget=budget)
    started = time.monotonic()
    results = validator.validate_all(refs, lambda ref: credentials[(ref.exchange, ref.tenant_id)])
    wall = time.monotonic() - started

    assert all(r.status is Status.VALID for r in results)
    assert wall >= 2.8  # 30 checks per exchange at 10/s
    assert wall < 5  # the two exchanges have separate budgets and run side by side
    costs = {
        "binance": {"/api/v3/account": 4, "/sapi/v1/account/apiRestrictions": 0.1},  # ccxt's own costs
        "kraken": {"/0/private/BalanceEx": 3, "/0/private/GetApiKeyInfo": 3},
    }
    for exchange, cost in costs.items():
        requests = exchange_simulator.requests(exchange=exchange)
        assert sorted({r.path for r in requests}) == sorted(cost) and len(requests) == 60  # 30 checks, 30 probes
        assert busiest_second_units(requests, cost) <= budget.units_per_second(exchange) + SLACK * max(cost.values())


def test_defaults_keep_below_each_published_limit():
    binance = ccxt.binance()
    account_cost = binance.api["private"]["get"]["account"]["cost"]  # ccxt's own figure for GET /api/v3/account
    weight_per_unit = 6000 / (60_000 / binance.rateLimit)  # ccxt paces 1,200 units a minute for 6,000 weight
    assert account_cost * weight_per_unit == 20
    per_minute = default_units_per_second("binance") * 60 * weight_per_unit
    assert 5400 <= per_minute < 6000  # headroom, but not a wasteful one
    assert default_units_per_second("kraken") / ccxt.kraken().api["private"]["post"]["BalanceEx"]["cost"] <= 1
    assert default_units_per_second("okx") == 1000 / ccxt.okx().rateLimit * 0.95  # unlisted: ccxt's pace
    assert default_units_per_second("no-such-exchange") == 0


def test_settings_choose_the_budget():
    config = BudgetConfig.from_settings(
        Settings.from_env(
            {
                "CREDENTIAL_HEALTH_EXCHANGE_RATE_LIMIT": "8",
                "CREDENTIAL_HEALTH_EXCHANGE_BUDGETS": '{"binance": 12}',
                "CREDENTIAL_HEALTH_EGRESS_ADDRESS": "127.0.0.2",
            }
        )
    )
    assert (config.units_per_second("binance"), config.units_per_second("kraken")) == (12, 8)
    assert config.egress == "127.0.0.2" and not config.redis_url
    assert BudgetConfig.from_settings(Settings.from_env({})).units_per_second("binance") == 19
    assert BudgetConfig.unlimited().open().for_exchange("binance") is None


def test_retry_after_is_read_only_from_429_and_418():
    assert retry_after_seconds(429, {"retry-after": "7"}) == 7
    assert retry_after_seconds(418, {"Retry-After": "120"}) == 120
    assert retry_after_seconds(429, {}) is None
    assert retry_after_seconds(503, {"Retry-After": "7"}) is None
    assert retry_after_seconds(429, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) == 60


def test_retry_after_pauses_every_check_of_the_exchange_on_that_egress(exchange_simulator, sim_credential):
    # two account calls (weight 40) per 2-second window: a burst of checks earns 429s with Retry-After
    exchange_simulator.configure(weight_per_minute=40, window_seconds=2, ban_after=100)
    binance = {f"b{i}": sim_credential("binance") for i in range(6)}
    kraken = {f"k{i}": sim_credential("kraken") for i in range(3)}
    secrets = {**binance, **kraken}
    refs = [CredentialRef(t, "binance", "x") for t in binance] + [CredentialRef(t, "kraken", "x") for t in kraken]
    # a budget far above the limit: only the pause keeps the checks from hammering the exchange
    validator = ExchangeValidator(
        exchange_simulator.urls,
        attempts=6,
        retry_delay_seconds=0.01,
        concurrency=8,
        budget=BudgetConfig(every_exchange=1000.0),
    )
    results = validator.validate_all(refs, lambda ref: secrets[ref.tenant_id])

    assert [r.status for r in results] == [Status.VALID] * 9
    refusals = exchange_simulator.state.refusals
    assert refusals and {r.verdict for r in refusals} == {"throttled"}  # never banned: every 429 was obeyed
    first = min(r.at for r in refusals)
    pause_end = first + max(r.retry_after for r in refusals if r.at - first < 0.1)
    binance_times = [r.at for r in exchange_simulator.requests(exchange="binance")]
    # requests already on the wire when the first 429 came back may land just after it; then silence
    assert not [t for t in binance_times if first + 0.1 < t < pause_end - 0.05]
    assert max(binance_times) > pause_end  # and the checks resumed after it
    kraken_times = [r.at for r in exchange_simulator.requests(exchange="kraken")]
    assert min(kraken_times) < pause_end - 0.5  # Kraken's budget is not Binance's


def test_bad_budget_settings_are_refused_with_the_variable_named():
    import pytest

    from credential_health.settings import SettingsError

    for name, raw in [
        ("CREDENTIAL_HEALTH_EXCHANGE_BUDGETS", "{nope"),
        ("CREDENTIAL_HEALTH_EXCHANGE_BUDGETS", "[1]"),
        ("CREDENTIAL_HEALTH_EXCHANGE_BUDGETS", '{"binance": -1}'),
        ("CREDENTIAL_HEALTH_REDIS_URL", "http://redis:6379"),
        ("CREDENTIAL_HEALTH_EGRESS_ADDRESS", "egress.example.com"),
        ("CREDENTIAL_HEALTH_EXCHANGE_RATE_LIMIT", "fast"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: raw})
    assert Settings.from_env({"CREDENTIAL_HEALTH_EXCHANGE_BUDGETS": ""}).exchange_budgets == {}
