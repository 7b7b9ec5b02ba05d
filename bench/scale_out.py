"""Fan-out over Celery: budget-bound scaling with egress addresses, and a large window against in-process.

1. Budget-bound: the simulator (its own process) enforces Binance's per-IP weight limit scaled to 3,000 weight per
   6 s (set over its /__sim control API); one Celery worker on one egress address (127.0.0.2) runs one shard, then
   two workers on two addresses (127.0.0.2, 127.0.0.3) run one shard each, with the same checks per worker, on
   one shared Redis budget at 95% of the limit. Targets: two/one >= 1.8 checks/s, zero 429/418, each run >= 0.9
   of its bound (rates measured at the exchange, first to last request).
2. A large unthrottled window through the Celery executor (two workers, four shards) against the in-process
   executor: wall time of the run and peak RSS per process (reported; no target).

Both run real processes: OpenBao, the simulator, Redis, PostgreSQL (Dagster instance and results), `dagster job
execute` orchestrating and `dagster-celery` workers.

    .venv/bin/python bench/scale_out.py [--checks 300] [--window-credentials 100000] [--skip-window] [--skip-budget]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from budget_shared import ACCOUNT_WEIGHT, WEIGHT_PER_UNIT, start_simulator  # noqa: E402 - after the sys.path insert
from credential_health.validation.budget import HEADROOM  # noqa: E402 - after the sys.path insert
from credential_health_tests.scale.cluster import REDIS_URL, make_cluster, throwaway_database  # noqa: E402 - after the sys.path insert
from validation_throughput import control  # noqa: E402 - after the sys.path insert
from window_e2e import credential, seed_vault, start_openbao  # noqa: E402 - after the sys.path insert

TARGET_RATIO, TARGET_OF_BOUND = 1.8, 0.9
WINDOWS = iter(["2026-11-20-00:00", "2026-11-20-06:00", "2026-11-20-12:00", "2026-11-20-18:00"])


class PeakRss:
    """Peak resident memory per process of a process tree, sampled every 0.2 s."""

    def __init__(self, roots):
        self.roots, self.peaks, self._stop = roots, {}, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for root in self.roots():
                try:
                    for p in [root, *root.children(recursive=True)]:
                        label = f"{p.pid} {' '.join(p.cmdline()[1:4])[:60]}"
                        self.peaks[label] = max(self.peaks.get(label, 0), p.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.2)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {label: rss / 2**20 for label, rss in sorted(self.peaks.items(), key=lambda kv: -kv[1])}


def seed(base: str, addr: str, token: str, tenants: str, entries: list[dict]) -> None:
    keys = [
        {"exchange": e["exchange"], "api_key": e["api_key"], "secret": e["secret"], "behaviour": e["behaviour"]}
        for e in entries
    ]
    for i in range(0, len(keys), 2000):  # the control API takes bodies of up to a megabyte
        control(base, "/keys", keys[i : i + 2000])
    seed_vault(addr, token, [{**e, "tenant": f"{tenants}/{e['tenant']}"} for e in entries])


def deployment(folder: Path, env: dict, pools: tuple[str, ...], shards: int, egresses: list[str]):
    cluster = make_cluster(folder, env, pools, shards)
    for index, (pool, egress) in enumerate(zip(cluster.pools, egresses, strict=True)):
        cluster.start_worker(pool, egress, f"w{index}")
    return cluster


def budget_run(base: str, env: dict, folder: Path, egresses: list[str], checks: int, bao) -> dict:
    """`checks` Binance checks per worker, one shard per worker; the rate as the exchange saw it."""
    control(base, "/reset", {"keys": True})
    tenants = f"budget{len(egresses)}"
    entries = [{**credential(2 * i), "behaviour": "valid"} for i in range(checks * len(egresses))]
    seed(base, *bao, tenants, entries)
    cluster = deployment(
        folder / tenants,
        {**env, "VAULT_TENANTS_PATH": f"tenants/{tenants}"},
        tuple("ab"[: len(egresses)]),
        len(egresses),
        egresses,
    )
    try:
        run = cluster.execute(next(WINDOWS), timeout=1800)
    finally:
        cluster.stop()
        cluster.drop_database()
    if run.returncode:
        raise SystemExit(f"run failed: {run.stderr[-2000:]}")
    stats = control(base, "/stats?timestamps=1")
    times = sorted(t for entry in stats["requests"].get("binance", {}).values() for t in entry["timestamps"])
    return {
        "rate": (len(times) - 1) / (times[-1] - times[0]),
        "span": times[-1] - times[0],
        "calls": len(times),
        "refused": sum(stats["refused"].values()),
    }


def window_run(env: dict, folder: Path, executor: str, services: set[int]) -> tuple[float, dict]:
    """One unthrottled window; wall time of `dagster job execute`, peak RSS of every process involved."""
    pools = ("a", "b")
    cluster = make_cluster(folder / executor, {**env, "VAULT_TENANTS_PATH": "tenants/window"}, pools, 4)
    if executor == "celery":
        for index, (pool, egress) in enumerate(zip(cluster.pools, ["127.0.0.2", "127.0.0.3"], strict=True)):
            cluster.start_worker(pool, egress, f"w{index}")
    cluster.env["CREDENTIAL_HEALTH_EXECUTOR"] = executor
    me = psutil.Process()  # its children: the orchestrating `dagster job execute` and the workers, not the services
    sampler = PeakRss(lambda: [p for p in me.children() if p.pid not in services])
    started = time.monotonic()
    try:
        run = cluster.execute(next(WINDOWS), timeout=3600)
    finally:
        wall = time.monotonic() - started
        peaks = sampler.stop()
        cluster.stop()
        cluster.drop_database()
    if run.returncode:
        raise SystemExit(f"{executor} run failed: {run.stderr[-2000:]}")
    return wall, peaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=300, help="budget runs: checks per worker")
    parser.add_argument("--limit-weight", type=int, default=3000, help="simulator: per-IP weight per window")
    parser.add_argument("--window-seconds", type=float, default=6.0, help="simulator: window length")
    parser.add_argument("--window-credentials", type=int, default=100_000, help="the unthrottled window")
    parser.add_argument("--skip-window", action="store_true")
    parser.add_argument("--skip-budget", action="store_true")
    args = parser.parse_args(argv)
    bound = args.limit_weight / args.window_seconds / ACCOUNT_WEIGHT
    units = HEADROOM * args.limit_weight / args.window_seconds / WEIGHT_PER_UNIT
    simulator, base = start_simulator(args.limit_weight, args.window_seconds)
    bao_process, addr, token = start_openbao()
    results_url, drop_results = throwaway_database()
    env = {
        "VAULT_ADDR": addr,
        "VAULT_TOKEN": token,
        "CREDENTIAL_HEALTH_DATABASE_URL": results_url,
        "CREDENTIAL_HEALTH_EXCHANGE_URLS": json.dumps({"binance": base + "/binance", "kraken": base + "/kraken"}),
        "CREDENTIAL_HEALTH_EXCHANGE_BUDGETS": json.dumps({"binance": units}),
        "CREDENTIAL_HEALTH_REDIS_URL": REDIS_URL,
        "CREDENTIAL_HEALTH_BUDGET_REDIS_PREFIX": f"scale_out_{os.getpid()}",
        "CREDENTIAL_HEALTH_AUDIT_LOG": "off",
        "CREDENTIAL_HEALTH_LATE_AFTER_WINDOWS": "100000",
        "CREDENTIAL_HEALTH_CHECK_RETRIES": "1",
        "CREDENTIAL_HEALTH_FIRST_WINDOW": "2026-01-01",
    }
    failures = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            print(
                f"per-IP limit {args.limit_weight} weight / {args.window_seconds:g} s = {bound:.1f} account calls/s; "
                f"budget {units:.1f} ccxt units/s per egress ({HEADROOM:.0%})"
            )
            if not args.skip_budget:
                one = budget_run(base, env, folder, ["127.0.0.2"], args.checks, (addr, token))
                two = budget_run(base, env, folder, ["127.0.0.2", "127.0.0.3"], args.checks, (addr, token))
                for label, result, limit in (
                    ("1 worker, 1 egress ", one, bound),
                    ("2 workers, 2 egress", two, 2 * bound),
                ):
                    share = result["rate"] / limit
                    print(
                        f"{label}: {result['rate']:6.2f} checks/s over {result['span']:.1f} s = {share:.3f} of its "
                        f"bound {limit:.1f}/s (target >= {TARGET_OF_BOUND}); 429/418: {result['refused']} (target 0)"
                    )
                    if share < TARGET_OF_BOUND or result["refused"]:
                        failures.append(f"{label.strip()}: {share:.3f} of its bound, {result['refused']} refused")
                ratio = two["rate"] / one["rate"]
                print(f"two egress addresses / one: {ratio:.2f}x (target >= {TARGET_RATIO})")
                if ratio < TARGET_RATIO:
                    failures.append(f"ratio {ratio:.2f} < {TARGET_RATIO}")
            if not args.skip_window:
                control(base, "/config", {"weight_per_minute": 10**9})
                control(base, "/reset", {"keys": True})
                seed(base, addr, token, "window", [credential(i) for i in range(args.window_credentials)])
                unthrottled = {
                    **env,
                    "CREDENTIAL_HEALTH_EXCHANGE_RATE_LIMIT": "0",
                    "CREDENTIAL_HEALTH_EXCHANGE_BUDGETS": "",
                }
                for executor in ("in_process", "celery"):
                    wall, peaks = window_run(unthrottled, folder, executor, {simulator.pid, bao_process.pid})
                    print(
                        f"{args.window_credentials} credentials, {executor}: {wall:.1f} s wall; peak RSS per process:"
                    )
                    for label, mb in list(peaks.items())[:8]:
                        print(f"    {mb:7.0f} MB  {label}")
    finally:
        drop_results()
        for process in (simulator, bao_process):
            process.terminate()
            process.wait(10)
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
