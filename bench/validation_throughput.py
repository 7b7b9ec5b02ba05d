"""Validation throughput against the exchange simulator running as a separate process (50 ms latency).

Measures, each against its target (the bench exits 1 when one is missed):
(a) checks/s of ExchangeValidator unthrottled, beside a plain sequential ccxt loop over the same kind of keys
    (sync ccxt, a fresh instance per check, markets pre-seeded, ccxt's limiter off, no project code) making the
    same two calls (balance, then the key-information endpoint), at least 200 credentials: target >= 300 checks/s
    and >= 10x the loop;
(b) a budget-bound run: wall time against the bound n x cost / budget per exchange, the cost of a check being
    its balance call and its scope probe (ccxt's cost of each): target 0.9-1.02 of it;
(c) peak RSS of a fresh process validating N credentials: target <= 1,024 MB.
Usage: python bench/validation_throughput.py [--n 2000] [--latency-ms 50] [--baseline-n 200] [--budget-n 150]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from credential_health.models import CredentialRef, ExchangeSecret
from credential_health.scopes.normalise import normaliser
from credential_health.scopes.probe import probe_cost
from credential_health.validation import ExchangeValidator
from credential_health.validation.budget import BudgetConfig

EXCHANGES = ("binance", "kraken")
TARGET_CHECKS_PER_SECOND, TARGET_SPEEDUP = 300, 10
TARGET_BOUND_SHARE = (0.9, 1.02)  # as fast as the budget allows, never faster
TARGET_PEAK_MB = 1024
BALANCE_COSTS = {"binance": 4, "kraken": 3}  # ccxt's cost of GET /api/v3/account and POST /0/private/BalanceEx


@contextmanager
def simulator(latency_ms: float):
    """The simulator in its own process; yields its base URL."""
    command = [
        sys.executable,
        "-m",
        "credential_health.sandbox.exchange_simulator",
        "--port",
        "0",
        "--latency-ms",
        str(latency_ms),
        "--weight-per-minute",
        "1000000000",  # no per-IP limit here
        "--sapi-weight-per-minute",
        "1000000000",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"simulator did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(10)


def control(base: str, path: str, payload: object = None) -> dict:
    """Call the simulator's control API."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        base + "/__sim" + path,
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def credentials(n: int, tag: str) -> tuple[list[CredentialRef], dict[tuple, ExchangeSecret]]:
    """n refs split over both exchanges, each with its own key."""
    refs, secrets = [], {}
    for i in range(n):
        exchange = EXCHANGES[i % 2]
        ref = CredentialRef(f"tenant{i:05d}", exchange, tag)
        secret = base64.b64encode(f"{tag}-secret-{i}".encode()).decode()
        refs.append(ref)
        secrets[ref.key] = ExchangeSecret(api_key=f"{tag}-key-{i}", secret=secret)
    return refs, secrets


def register(base: str, secrets: dict[tuple, ExchangeSecret]) -> None:
    control(base, "/keys", [{"exchange": k[1], "api_key": s.api_key, "secret": s.secret} for k, s in secrets.items()])


def urls(base: str) -> dict[str, str]:
    return {exchange: f"{base}/{exchange}" for exchange in EXCHANGES}


def run_validator(base: str, refs, secrets, budget: BudgetConfig, concurrency: int) -> tuple[float, list]:
    validator = ExchangeValidator(
        urls(base),
        attempts=3,
        retry_delay_seconds=0.05,
        request_timeout_seconds=10,
        concurrency=concurrency,
        budget=budget,
    )
    started = time.perf_counter()
    results = validator.validate_all(refs, lambda ref: secrets[ref.key])
    return time.perf_counter() - started, results


def _market(symbol: str, market_id: str, base: str, quote: str, base_id: str, quote_id: str) -> dict:
    return {
        "id": market_id,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "baseId": base_id,
        "quoteId": quote_id,
        "type": "spot",
        "spot": True,
        "active": True,
        "precision": {"amount": 1e-8, "price": 1e-2},
        "limits": {"amount": {"min": None, "max": None}, "price": {"min": None, "max": None}},
        "info": {},
    }


# The baseline's own markets (not the project's): enough for fetch_balance to skip loading them.
BASELINE_MARKETS = {
    "binance": [_market("BTC/USDT", "BTCUSDT", "BTC", "USDT", "BTC", "USDT")],
    "kraken": [_market("BTC/USD", "XXBTZUSD", "BTC", "USD", "XXBT", "ZUSD")],
}


def sync_baseline(base: str, refs, secrets) -> tuple[float, int]:
    """A plain sequential ccxt loop: a fresh sync instance per check, markets pre-seeded, ccxt's limiter off; the
    balance call, then the key-information call the validator's probe makes."""
    import ccxt

    started = time.perf_counter()
    valid = 0
    for ref in refs:
        cls = getattr(ccxt, ref.exchange)
        api = {
            name: f"{base}/{ref.exchange}" + urlsplit(url).path.rstrip("/") for name, url in cls().urls["api"].items()
        }
        secret = secrets[ref.key]
        exchange = cls(
            {"apiKey": secret.api_key, "secret": secret.secret, "urls": {"api": api}, "enableRateLimit": False}
        )
        exchange.set_markets(BASELINE_MARKETS[ref.exchange])
        exchange.fetch_balance()
        getattr(exchange, normaliser(ref.exchange).METHOD)()
        valid += 1
    return time.perf_counter() - started, valid


def phase_throughput(base: str, args, failures: list[str]) -> None:
    refs, secrets = credentials(args.n, "throughput")
    register(base, secrets)
    wall, results = run_validator(base, refs, secrets, BudgetConfig.unlimited(), args.concurrency)
    valid = sum(r.status.value == "valid" for r in results)
    scoped = sum(r.scope is not None for r in results)
    rate = len(results) / wall
    subset = refs[: args.baseline_n]
    seconds, base_valid = sync_baseline(base, subset, secrets)
    base_rate = len(subset) / seconds
    print(
        f"(a) validator, unthrottled: {len(results)} checks ({valid} valid, {scoped} with a scope record) in "
        f"{wall:.2f} s = {rate:.0f} checks/s "
        f"(target >= {TARGET_CHECKS_PER_SECOND}; concurrency {args.concurrency}, latency {args.latency_ms:g} ms)"
    )
    print(
        f"    plain sequential ccxt loop: {len(subset)} checks ({base_valid} valid) in {seconds:.2f} s = "
        f"{base_rate:.1f} checks/s -> validator {rate / base_rate:.1f}x (target >= {TARGET_SPEEDUP}x)"
    )
    if valid != len(results) or scoped != valid or rate < TARGET_CHECKS_PER_SECOND or rate / base_rate < TARGET_SPEEDUP:
        failures.append("(a) throughput")


def phase_budget(base: str, args, failures: list[str]) -> None:
    refs, secrets = credentials(args.budget_n * 2, "budget")
    register(base, secrets)
    control(base, "/reset", {})
    budget = BudgetConfig(overrides={"binance": args.rate, "kraken": args.rate})
    wall, results = run_validator(base, refs, secrets, budget, args.concurrency)
    costs = {exchange: BALANCE_COSTS[exchange] + probe_cost(exchange) for exchange in EXCHANGES}
    bound = max(args.budget_n * cost / args.rate for cost in costs.values())
    stats = control(base, "/stats")["requests"]
    sent = {exchange: sum(entry["count"] for entry in stats.get(exchange, {}).values()) for exchange in EXCHANGES}
    scoped = sum(r.scope is not None for r in results)
    share = bound / wall
    print(
        f"(b) budget-bound: {args.rate:g} ccxt units/s per exchange, n={args.budget_n} per exchange, cost per "
        f"check (balance + probe) {costs}, requests {sent}, {scoped} scope records: wall {wall:.2f} s vs bound "
        f"n x cost / budget {bound:.2f} s -> bound/wall {share:.3f} "
        f"(target {TARGET_BOUND_SHARE[0]}-{TARGET_BOUND_SHARE[1]})"
    )
    if scoped != len(results) or not TARGET_BOUND_SHARE[0] <= share <= TARGET_BOUND_SHARE[1]:
        failures.append("(b) budget")


def phase_rss(base: str, args, failures: list[str]) -> None:
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--rss-child",
        base,
        "--rss-n",
        str(args.rss_n),
        "--concurrency",
        str(args.concurrency),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    figures = json.loads(output)
    print(
        f"(c) peak RSS validating {figures['n']} credentials ({figures['valid']} valid) in a fresh process: "
        f"{figures['peak_mb']:.0f} MB (target <= {TARGET_PEAK_MB} MB; after imports {figures['start_mb']:.0f} MB), "
        f"{figures['seconds']:.1f} s"
    )
    if figures["peak_mb"] > TARGET_PEAK_MB or figures["valid"] != figures["n"]:
        failures.append("(c) peak RSS")


def rss_child(base: str, n: int, concurrency: int) -> None:
    start_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    refs, secrets = credentials(n, "rss")
    register(base, secrets)
    seconds, results = run_validator(base, refs, secrets, BudgetConfig.unlimited(), concurrency)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux
    valid = sum(r.status.value == "valid" for r in results)
    print(json.dumps({"n": len(results), "valid": valid, "start_mb": start_mb, "peak_mb": peak_mb, "seconds": seconds}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="checks in the unthrottled run")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="simulator latency per response")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--baseline-n", type=int, default=200, help="checks in the plain sequential ccxt loop")
    parser.add_argument("--rate", type=float, default=40.0, help="budget: ccxt cost units/s per exchange")
    parser.add_argument("--budget-n", type=int, default=150, help="budget run: checks per exchange")
    parser.add_argument("--rss-n", type=int, default=10000, help="checks in the peak-RSS run")
    parser.add_argument("--phases", default="a,b,c")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child, args.rss_n, args.concurrency)
        return 0
    with simulator(args.latency_ms) as base:
        print(f"simulator (separate process) at {base}, latency {args.latency_ms:g} ms, 2 exchanges")
        phases = set(args.phases.split(","))
        failures: list[str] = []
        if "a" in phases:
            phase_throughput(base, args, failures)
        if "b" in phases:
            phase_budget(base, args, failures)
        if "c" in phases:
            phase_rss(base, args, failures)
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
