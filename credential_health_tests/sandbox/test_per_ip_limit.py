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


def test_each_sapi_endpoint_has_its_own_pool_and_no_ban():
    budget = WeightBudget(weight_per_minute=20, ban_after=1, ban_seconds=120, window=60)
    pool = "binance/sapi/v1/account/apiRestrictions"
    assert budget.charge(pool, "ip", 1, now=0, limit=2, bans=False)[0] == "ok"
    assert budget.charge(pool, "ip", 1, now=1, limit=2, bans=False)[0] == "ok"
    assert [budget.charge(pool, "ip", 1, now=2 + i, limit=2, bans=False)[0] for i in range(3)] == ["throttled"] * 3
    assert budget.used("binance", "ip") == 0 and budget.charge("binance", "ip", 20, now=5)[0] == "ok"


def test_sapi_weight_over_http_is_reported_in_its_own_header():
    with SimulatorServer(sapi_weight_per_minute=2) as server:
        url = server.urls["binance"] + "/sapi/v1/account/apiRestrictions"  # weight (IP) 1, as on Binance
        with httpx.Client() as client:
            answers = [client.get(url) for _ in range(4)]  # unsigned: charged, then refused for the missing key
        assert [a.status_code for a in answers] == [401, 401, 429, 429]  # throttled, never banned (418)
        assert answers[1].headers["X-SAPI-USED-IP-WEIGHT-1M"] == "2" and answers[1].json()["code"] == -2014
        assert "X-MBX-USED-WEIGHT-1M" not in answers[1].headers and int(answers[2].headers["Retry-After"]) >= 1
        assert server.state.budget.used("binance", "127.0.0.1") == 0  # the api pool is untouched
