"""Shared exchange budget: one worker on one egress address vs two workers on two, against a per-IP limit.

The simulator (its own process) enforces Binance's per-IP weight limit, scaled so a run takes seconds: by default
3,000 weight per 6-second window (500 weight/s, 25 account calls/s per IP; the real one is 6,000 a minute).
Workers are real processes sharing one Redis budget, each bound to its loopback egress address (127.0.0.2,
127.0.0.3), with the budget set to 95% of the limit exactly as the defaults are. Targets: two egress addresses
do at least 1.8x the checks/s of one, not one 429 or 418, and each run reaches at least 0.9 of its bound.

    .venv/bin/python bench/budget_shared.py [--checks 300] [--limit-weight 3000] [--window-seconds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credential_health.validation.budget import HEADROOM  # noqa: E402 - after the sys.path insert
from validation_throughput import control  # noqa: E402 (this folder is on sys.path when run as a script)

ACCOUNT_WEIGHT, WEIGHT_PER_UNIT = 20, 5  # GET /api/v3/account; one ccxt Binance unit is 5 weight
TARGET_RATIO, TARGET_OF_BOUND = 1.8, 0.9
REDIS_URL = os.environ.get("CREDENTIAL_HEALTH_REDIS_URL", "redis://127.0.0.1:6379/0")


def start_simulator(limit_weight: int, window: float) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable,
        "-m",
        "credential_health.sandbox.exchange_simulator",
        "--port",
        "0",
        "--weight-per-minute",
        str(limit_weight),
        "--window-seconds",
        str(window),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = process.stdout.readline()
    if "listening on" not in line:
        raise RuntimeError(f"simulator did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


def run(base: str, egresses: list[str], checks: int, units_per_second: float, prefix: str, folder: Path) -> dict:
    """`checks` Binance checks per worker, one worker per egress address; the rate is measured at the exchange."""
    control(base, "/reset", {"keys": True})
    workers = []
    for index, egress in enumerate(egresses):
        entries = [
            {
                "tenant": f"w{index}-t{i}",
                "api_key": f"key-{index}-{i}-{secrets.token_hex(4)}",
                "secret": secrets.token_hex(16),
            }
            for i in range(checks)
        ]
        control(
            base, "/keys", [{"exchange": "binance", "api_key": e["api_key"], "secret": e["secret"]} for e in entries]
        )
        spec = folder / f"worker-{len(egresses)}-{index}.json"
        spec.write_text(json.dumps({"exchange": "binance", "credentials": entries}))
        env = {
            **os.environ,
            "CREDENTIAL_HEALTH_EXCHANGE_URLS": json.dumps({"binance": base + "/binance"}),
            "CREDENTIAL_HEALTH_EXCHANGE_BUDGETS": json.dumps({"binance": units_per_second}),
            "CREDENTIAL_HEALTH_REDIS_URL": REDIS_URL,
            "CREDENTIAL_HEALTH_BUDGET_REDIS_PREFIX": prefix,
            "CREDENTIAL_HEALTH_EGRESS_ADDRESS": egress,
            "CREDENTIAL_HEALTH_CHECK_RETRIES": "1",
            "CREDENTIAL_HEALTH_CHECK_CONCURRENCY": "32",
        }
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "credential_health_tests.validation.budget_worker", str(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=ROOT,
            )
        )
    for worker in workers:
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError("a worker did not start")
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    codes: dict[str, int] = {}
    for worker in workers:
        out, _ = worker.communicate(timeout=600)
        for code, count in json.loads(out.strip().splitlines()[-1])["codes"].items():
            codes[code] = codes.get(code, 0) + count
    stats = control(base, "/stats?timestamps=1")
    times = sorted(t for entry in stats["requests"].get("binance", {}).values() for t in entry["timestamps"])
    rate = (len(times) - 1) / (times[-1] - times[0])
    return {"codes": codes, "refused": sum(stats["refused"].values()), "rate": rate, "span": times[-1] - times[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=300, help="checks per worker")
    parser.add_argument("--limit-weight", type=int, default=3000, help="simulator: per-IP weight per window")
    parser.add_argument("--window-seconds", type=float, default=6.0, help="simulator: window length")
    args = parser.parse_args(argv)
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    prefix = f"credential_health_bench:{secrets.token_hex(6)}"
    bound_per_ip = args.limit_weight / args.window_seconds / ACCOUNT_WEIGHT  # account calls/s one IP may make
    units_per_second = HEADROOM * args.limit_weight / args.window_seconds / WEIGHT_PER_UNIT
    process, base = start_simulator(args.limit_weight, args.window_seconds)
    failures = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            print(
                f"per-IP limit {args.limit_weight} weight / {args.window_seconds:g} s = {bound_per_ip:.1f} account "
                f"calls/s; budget {units_per_second:.1f} ccxt units/s per egress ({HEADROOM:.0%} of it)"
            )
            one = run(base, ["127.0.0.2"], args.checks, units_per_second, prefix, Path(folder))
            two = run(base, ["127.0.0.2", "127.0.0.3"], args.checks, units_per_second, prefix + ":2", Path(folder))
    finally:
        process.terminate()
        process.wait(10)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    for label, result, bound in (
        ("1 worker, 1 egress ", one, bound_per_ip),
        ("2 workers, 2 egress", two, 2 * bound_per_ip),
    ):
        share = result["rate"] / bound
        print(
            f"{label}: {result['rate']:6.2f} checks/s over {result['span']:.1f} s = {share:.3f} of its bound "
            f"{bound:.1f}/s (target >= {TARGET_OF_BOUND}); 429/418 at the exchange: {result['refused']} (target 0); "
            f"results {result['codes']}"
        )
        if share < TARGET_OF_BOUND:
            failures.append(f"{label.strip()} reached {share:.3f} of its bound")
        if result["refused"] or set(result["codes"]) != {"ok"}:
            failures.append(f"{label.strip()} was refused by the exchange")
    ratio = two["rate"] / one["rate"]
    print(f"two egress addresses / one: {ratio:.2f}x (target >= {TARGET_RATIO})")
    if ratio < TARGET_RATIO:
        failures.append(f"ratio {ratio:.2f} < {TARGET_RATIO}")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
