"""Scripting the simulator: the Python API, the HTTP control API, and the simulator as its own process."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest

from credential_health.models import CredentialRef, Status
from credential_health.sandbox.exchange_simulator import SimulatorServer, main
from credential_health.sandbox.keys import SimKey, WeightBudget
from credential_health.validation import ExchangeValidator
from credential_health_tests.fixtures.simulator import new_secret


def control(sim, method: str, path: str, payload: object = None) -> httpx.Response:
    return httpx.request(method, f"{sim.base_url}/__sim{path}", json=payload)


def test_keys_registered_listed_and_removed_over_http(exchange_simulator):
    binance, kraken = new_secret("binance"), new_secret("kraken")
    single = {"exchange": "binance", "api_key": binance.api_key, "secret": binance.secret, "latency_ms": 5}
    batch = [
        {
            "exchange": "kraken",
            "api_key": kraken.api_key,
            "secret": kraken.secret,
            "behaviour": "flaky",
            "fail_first": 2,
            "fail_with": "rate_limited",
        }
    ]
    assert control(exchange_simulator, "POST", "/keys", single).json() == {"registered": 1}
    assert control(exchange_simulator, "POST", "/keys", batch).json() == {"registered": 1}
    listed = control(exchange_simulator, "GET", "/keys").json()
    assert {(k["exchange"], k["behaviour"]) for k in listed} == {("binance", "valid"), ("kraken", "flaky")}
    assert binance.secret not in json.dumps(listed) and kraken.secret not in json.dumps(listed)
    assert control(exchange_simulator, "DELETE", f"/keys/binance/{binance.api_key}").json() == {"removed": True}
    assert exchange_simulator.state.key("binance", binance.api_key) is None


@pytest.mark.parametrize(
    "payload",
    [
        {"exchange": "bitmex", "api_key": "k", "secret": "s"},
        {"exchange": "binance", "api_key": "k", "secret": "s", "behaviour": "sleepy"},
        {"exchange": "binance", "api_key": "k", "secret": "s", "colour": "blue"},
        {"exchange": "binance", "api_key": "k", "secret": "s", "scope": {"colour": "blue"}},
        {"exchange": "kraken", "api_key": "k", "secret": "s", "scope": {"answer": "flaky"}},
        {"exchange": "kraken", "api_key": "k", "secret": "s", "scope": ["withdraw"]},
        {"exchange": "okx", "api_key": "k", "secret": "s", "scope": {"expires_at": "2030-01-01T00:00:00Z"}},  # seconds
        "not an object",
    ],
)
def test_bad_key_definitions_are_400(exchange_simulator, payload):
    response = control(exchange_simulator, "POST", "/keys", payload)
    assert response.status_code == 400 and response.json()["error"]


def test_config_stats_and_reset_over_http(exchange_simulator, sim_credential):
    assert control(exchange_simulator, "GET", "/health").json() == {"status": "ok"}
    assert control(exchange_simulator, "POST", "/config", {"latency_ms": 20, "hang_cap_seconds": 1}).status_code == 200
    assert exchange_simulator.state.latency_ms == 20 and exchange_simulator.state.hang_cap_seconds == 1
    assert control(exchange_simulator, "POST", "/config", {"speed": 1}).status_code == 400
    credential = sim_credential("kraken", "flaky", fail_first=1)
    validator = ExchangeValidator(exchange_simulator.urls, retry_delay_seconds=0.01)
    [result] = validator.validate_all([CredentialRef("a", "kraken", "t")], lambda ref: credential)
    assert (result.status, result.attempts) == (Status.VALID, 2)
    assert result.duration_ms >= 40  # two responses, 20 ms each
    stats = control(exchange_simulator, "GET", "/stats?timestamps=1").json()
    entry = stats["requests"]["kraken"][credential.api_key]
    # a failed and a good BalanceEx, then the scope probe (GetApiKeyInfo)
    assert entry["count"] == 3 and len(entry["timestamps"]) == 3 and entry["first"] <= entry["last"]
    assert stats["total"] == 3 and stats["in_flight"] == 0 and stats["max_in_flight"] >= 1
    assert control(exchange_simulator, "POST", "/reset").json() == {"reset": True}
    assert exchange_simulator.requests() == [] and exchange_simulator.state.key("kraken", credential.api_key)
    control(exchange_simulator, "POST", "/reset", {"keys": True})
    assert exchange_simulator.state.keys == {}


def test_python_api_rescripts_a_key_and_counts_per_key(exchange_simulator, sim_credential):
    credential = sim_credential("binance")
    validator = ExchangeValidator(exchange_simulator.urls, attempts=1)
    ref = CredentialRef("a", "binance", "t")
    assert validator.validate_all([ref], lambda r: credential)[0].status is Status.VALID
    exchange_simulator.set_key("binance", credential.api_key, credential.secret, "suspended")
    assert validator.validate_all([ref], lambda r: credential)[0].error_code == "account_suspended"
    exchange_simulator.remove_key("binance", credential.api_key)
    assert validator.validate_all([ref], lambda r: credential)[0].error_code == "auth_rejected"
    assert len(exchange_simulator.requests(api_key=credential.api_key)) == 4  # the valid check also probed scope
    assert len(exchange_simulator.requests(exchange="kraken")) == 0


def test_key_latency_overrides_the_default(exchange_simulator, sim_credential):
    exchange_simulator.configure(latency_ms=300)
    credential = sim_credential("kraken", latency_ms=1)
    [result] = ExchangeValidator(exchange_simulator.urls).validate_all(
        [CredentialRef("a", "kraken", "t")], lambda ref: credential
    )
    assert result.status is Status.VALID and result.duration_ms < 250


def test_sim_key_validation_and_public_view():
    with pytest.raises(ValueError):
        SimKey("kraken", "k", "s", behaviour="sleepy")
    with pytest.raises(ValueError):
        SimKey("kraken", "k", "s", fail_with="nope")
    key = SimKey("kraken", "k", "s3cret", behaviour="flaky", fail_first=1)
    assert "s3cret" not in repr(key) and "secret" not in key.public()
    assert [key.next_scenario() for _ in range(3)] == ["server_error", "valid", "valid"]


def test_weight_budget_slides_and_bans():
    budget = WeightBudget(weight_per_minute=40, ban_after=1, ban_seconds=10, window=60)
    assert budget.charge("binance", "ip", 20, now=0)[0] == "ok"
    assert budget.charge("binance", "ip", 20, now=1)[0] == "ok"
    assert budget.charge("binance", "ip", 20, now=2)[:2] == ("throttled", 60)
    assert budget.charge("binance", "other-ip", 20, now=2)[0] == "ok"
    assert budget.charge("binance", "ip", 20, now=3)[0] == "banned"
    assert budget.charge("binance", "ip", 1, now=70)[0] == "ok"  # window slid, ban over


@pytest.mark.slow  # starts processes
def test_simulator_as_a_separate_process(tmp_path):
    credential = new_secret("binance")
    keys = tmp_path / "keys.json"
    keys.write_text(
        json.dumps(
            [
                {
                    "exchange": "binance",
                    "api_key": credential.api_key,
                    "secret": credential.secret,
                    "scope": {"withdraw": True},
                }
            ]
        )
    )
    command = [
        sys.executable,
        "-m",
        "credential_health.sandbox.exchange_simulator",
        "--port",
        "0",
        "--latency-ms",
        "1",
        "--keys",
        str(keys),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        base = line.rsplit(" ", 1)[1].strip()
        urls = {"binance": base + "/binance", "kraken": base + "/kraken"}
        [result] = ExchangeValidator(urls).validate_all([CredentialRef("a", "binance", "t")], lambda r: credential)
        assert result.status is Status.VALID and result.scope.can_withdraw is True  # the key file's scope
        assert httpx.get(base + "/__sim/stats").json()["total"] == 2  # the balance call and the scope probe
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "RuntimeWarning" not in stderr


def test_main_rejects_unknown_options():
    with pytest.raises(SystemExit):
        main(["--no-such-option"])


def test_stop_does_not_wait_for_hung_requests():
    server = SimulatorServer()
    server.start()
    credential = new_secret("binance")
    server.set_key("binance", credential.api_key, credential.secret, "timeout")
    validator = ExchangeValidator(server.urls, attempts=1, request_timeout_seconds=20)
    results: list = []
    worker = threading.Thread(
        target=lambda: results.extend(
            validator.validate_all([CredentialRef("a", "binance", "t")], lambda ref: credential)
        )
    )
    worker.start()
    deadline = time.monotonic() + 5
    while server.state.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
    worker.join(10)
    assert results[0].status is Status.UNKNOWN  # the client saw the connection drop
