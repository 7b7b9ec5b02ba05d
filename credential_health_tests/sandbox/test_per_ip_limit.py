"""The simulator's per-IP request-weight limit, as Binance documents it: 429 with Retry-After, then 418."""

from __future__ import annotations

import httpx

from credential_health.sandbox.exchange_simulator import SimulatorServer
from credential_health.sandbox.keys import WeightBudget


def test_retry_after_says_when_enough_weight_has_left_the_window():
    budget = WeightBudget(weight_per_minute=60, ban_after=1, ban_seconds=120, window=60)
    assert budget.charge("binance", "ip", 20, now=0)[0] == "ok"
    assert budget.charge("binance", "ip", 20, now=10)[0] == "ok"
    assert budget.charge("binance", "ip", 20, now=20)[0] == "ok"
    assert budget.charge("binance", "ip", 20, now=30) == ("throttled", 80, 30)  # the first 20 leave at 60
    assert budget.charge("binance", "ip", 20, now=60.5) == ("ok", 60, 0.0)  # refused requests were not charged
    assert budget.charge("binance", "other-ip", 20, now=60.5)[0] == "ok"  # per address


def test_not_backing_off_earns_a_ban_that_grows_for_repeat_offenders():
    budget = WeightBudget(weight_per_minute=20, ban_after=1, ban_seconds=120, window=60)
    budget.charge("binance", "ip", 20, now=0)
    assert budget.charge("binance", "ip", 20, now=1)[0] == "throttled"
    assert budget.charge("binance", "ip", 20, now=2) == ("banned", 20, 120)  # a repeat inside Retry-After
    assert budget.charge("binance", "ip", 20, now=100) == ("banned", 0, 22)  # until the ban is over
    assert budget.charge("binance", "ip", 20, now=200)[0] == "ok"
    assert budget.charge("binance", "ip", 20, now=201)[0] == "throttled"
    assert budget.charge("binance", "ip", 20, now=202) == ("banned", 20, 240)  # the second ban lasts twice as long


def test_the_real_limit_by_default_over_http():
    with SimulatorServer() as server:  # Binance's 6,000 weight a minute, nothing lifted
        url = server.urls["binance"] + "/api/v3/exchangeInfo"  # weight 20, as on Binance
        with httpx.Client() as client:
            answers = [client.get(url) for _ in range(301)]
            banned = client.get(url)
        assert {a.status_code for a in answers[:300]} == {200}
        assert answers[299].headers["X-MBX-USED-WEIGHT-1M"] == "6000"
        throttled = answers[300]
        assert throttled.status_code == 429 and throttled.json()["code"] == -1003
        assert 1 <= int(throttled.headers["Retry-After"]) <= 60
        assert banned.status_code == 418 and "IP banned until" in banned.json()["msg"]
        assert int(banned.headers["Retry-After"]) == 120
        assert [r.verdict for r in server.state.refusals] == ["throttled", "banned"]
        server.configure(weight_per_minute=40, window_seconds=1)
        assert server.state.budget.window == 1.0
