"""Validation throughput against the exchange simulator running as a separate process.

Prints (a) checks/s of ExchangeValidator unthrottled vs a naive sequential sync-ccxt loop, (b) wall time of a
budget-bound run against the bound n/R, (c) peak RSS of a process validating N credentials.
Usage: python bench/validation_throughput.py [--n 2000] [--latency-ms 50] [--rate 50] [--budget-n 1000]
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

from credential_health.models import CredentialRef, ExchangeSecret  # noqa: E402
from credential_health.validation import ExchangeValidator  # noqa: E402

EXCHANGES = ("binance", "kraken")


@contextmanager
def simulator(latency_ms: float):
    """The simulator in its own process; yields its base URL."""
    command = [sys.executable, "-m", "credential_health.sandbox.exchange_simulator", "--port", "0",
               "--latency-ms", str(latency_ms)]
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
    request = urllib.request.Request(base + "/__sim" + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
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
    control(base, "/keys", [{"exchange": k[1], "api_key": s.api_key, "secret": s.secret}
                            for k, s in secrets.items()])


def urls(base: str) -> dict[str, str]:
    return {exchange: f"{base}/{exchange}" for exchange in EXCHANGES}


def run_validator(base: str, refs, secrets, rate: float, concurrency: int) -> tuple[float, list]:
    validator = ExchangeValidator(urls(base), rate_limit_per_second=rate, attempts=3, retry_delay_seconds=0.05,
                                  request_timeout_seconds=10, concurrency=concurrency)
    started = time.perf_counter()
    results = validator.validate_all(refs, lambda ref: secrets[ref.key])
    return time.perf_counter() - started, results


def sync_baseline(base: str, refs, secrets, tuned: bool) -> float:
    """The seed's loop: sync ccxt, a fresh instance per check, one after another (tuned: markets pre-seeded
    and ccxt's own rate limiter off, i.e. the same single request per check as the validator)."""
    import ccxt

    from credential_health.validation.instances import STATIC_MARKETS
    started = time.perf_counter()
    for ref in refs:
        cls = getattr(ccxt, ref.exchange)
        api = {name: f"{base}/{ref.exchange}" + urlsplit(url).path.rstrip("/")
               for name, url in cls().urls["api"].items()}
        exchange = cls({**secrets[ref.key].ccxt_config(), "urls": {"api": api}, "enableRateLimit": not tuned})
        if tuned:
            exchange.set_markets(STATIC_MARKETS[ref.exchange])
        exchange.fetch_balance()
    return time.perf_counter() - started


def phase_throughput(base: str, args) -> None:
    refs, secrets = credentials(args.n, "throughput")
    register(base, secrets)
    wall, results = run_validator(base, refs, secrets, 0, args.concurrency)
    valid = sum(r.status.value == "valid" for r in results)
    rate = len(results) / wall
    print(f"(a) validator, unthrottled: {len(results)} checks ({valid} valid) in {wall:.2f} s = {rate:.0f} checks/s "
          f"(concurrency {args.concurrency}, latency {args.latency_ms:g} ms)")
    for tuned, sample in ((False, args.baseline_n), (True, args.tuned_baseline_n)):
        subset = refs[:sample]
        if not subset:
            continue
        seconds = sync_baseline(base, subset, secrets, tuned)
        label = "tuned sync loop (markets pre-seeded, limiter off)" if tuned else "naive sync loop (ccxt defaults)"
        base_rate = len(subset) / seconds
        print(f"    {label}: {len(subset)} checks in {seconds:.2f} s = {base_rate:.2f} checks/s "
              f"(sample of {len(subset)}) -> validator is {rate / base_rate:.0f}x faster")


def phase_budget(base: str, args) -> None:
    refs, secrets = credentials(args.budget_n * 2, "budget")
    register(base, secrets)
    control(base, "/reset", {})
    wall, results = run_validator(base, refs, secrets, args.rate, args.concurrency)
    bound = args.budget_n / args.rate
    stats = control(base, "/stats")["requests"]
    sent = {exchange: sum(entry["count"] for entry in stats.get(exchange, {}).values()) for exchange in EXCHANGES}
    print(f"(b) budget-bound: R={args.rate:g} req/s per exchange, n={args.budget_n} per exchange, requests {sent}: "
          f"wall {wall:.2f} s vs bound n/R {bound:.2f} s -> bound/wall {bound / wall:.3f}")


def phase_rss(base: str, args) -> None:
    command = [sys.executable, os.path.abspath(__file__), "--rss-child", base, "--rss-n", str(args.rss_n),
               "--concurrency", str(args.concurrency)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    figures = json.loads(output)
    print(f"(c) peak RSS validating {figures['n']} credentials ({figures['valid']} valid) in a fresh process: "
          f"{figures['peak_mb']:.0f} MB (after imports {figures['start_mb']:.0f} MB), {figures['seconds']:.1f} s")


def rss_child(base: str, n: int, concurrency: int) -> None:
    start_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    refs, secrets = credentials(n, "rss")
    register(base, secrets)
    seconds, results = run_validator(base, refs, secrets, 0, concurrency)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux
    valid = sum(r.status.value == "valid" for r in results)
    print(json.dumps({"n": len(results), "valid": valid, "start_mb": start_mb, "peak_mb": peak_mb,
                      "seconds": seconds}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="checks in the unthrottled run")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="simulator latency per response")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--baseline-n", type=int, default=10, help="sample for the naive sync loop")
    parser.add_argument("--tuned-baseline-n", type=int, default=100, help="sample for the tuned sync loop")
    parser.add_argument("--rate", type=float, default=50.0, help="budget: requests/s per exchange")
    parser.add_argument("--budget-n", type=int, default=1000, help="budget run: checks per exchange")
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
        if "a" in phases:
            phase_throughput(base, args)
        if "b" in phases:
            phase_budget(base, args)
        if "c" in phases:
            phase_rss(base, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
