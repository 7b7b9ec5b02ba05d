"""Inventory walk throughput: seed N tenants x 3 credentials in OpenBao, then time the walk.

Prints secrets/s for the project's walk (aiohttp LISTs with version metadata, which leave deleted secrets
out: detailed-metadata LISTs on OpenBao, or one metadata read per secret as on HashiCorp Vault) and for a
plain sequential hvac walk (LIST only), and
the walk process's peak RSS. Targets: >= 1,000 secrets/s and faster than the plain walk; the bench exits 1
when one is missed.

    .venv/bin/python bench/inventory_walk.py --tenants 2000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from credential_health.sandbox.openbao import start_openbao
from credential_health.vault.auth import TokenAuth
from credential_health.vault.client import VaultClient
from credential_health.vault.inventory import CredentialStore

TARGET_SECRETS_PER_SECOND = 1000
LAYOUT = [("binance", "trading"), ("binance", "readonly"), ("kraken", "trading")]


def seed(addr: str, token: str, tenants: int) -> None:
    client = VaultClient(addr, TokenAuth(token))

    def one(i: int) -> None:
        for exchange, kind in LAYOUT:
            client.write("secret", f"tenants/tenant-{i:06d}/{exchange}/{kind}", {"apiKey": f"k{i}", "secret": "s"})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(tenants)))


def project_walk(addr: str, token: str, queue, detailed: bool | None) -> None:
    store = CredentialStore(VaultClient(addr, TokenAuth(token)), detailed_metadata=detailed)
    cpu_started, started = time.process_time(), time.perf_counter()
    refs = store.walk()
    elapsed = time.perf_counter() - started
    queue.put(
        (
            len(refs),
            elapsed,
            time.process_time() - cpu_started,
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sequential_hvac_walk(addr: str, token: str) -> tuple[int, float]:
    """The baseline: plain hvac, one KV v2 LIST after another."""
    import hvac

    kv = hvac.Client(url=addr, token=token).secrets.kv.v2

    def keys(path: str) -> list[str]:
        return kv.list_secrets(path=path, mount_point="secret")["data"]["keys"]

    started = time.perf_counter()
    count = 0
    for tenant in keys("tenants"):
        for exchange in keys(f"tenants/{tenant.rstrip('/')}"):
            count += len(keys(f"tenants/{tenant.rstrip('/')}/{exchange.rstrip('/')}"))
    return count, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=2000)
    args = parser.parse_args()
    server = start_openbao()
    try:
        started = time.perf_counter()
        seed(server.addr, server.root_token, args.tenants)
        print(f"seeded {args.tenants * len(LAYOUT)} secrets in {time.perf_counter() - started:.1f} s")
        base_count, base_elapsed = sequential_hvac_walk(server.addr, server.root_token)
        # OpenBao lists each secret's version metadata with detailed-metadata; on HashiCorp Vault the walk
        # reads each secret's metadata (to leave deleted ones out), so it is timed that way too.
        rates = {}
        for label, detailed in (("project walk", None), ("  metadata reads", False)):
            queue = multiprocessing.get_context("spawn").Queue()
            child = multiprocessing.get_context("spawn").Process(
                target=project_walk, args=(server.addr, server.root_token, queue, detailed)
            )
            server_cpu = cpu_seconds(server.process.pid)
            child.start()
            count, elapsed, client_cpu, rss_mb = queue.get()
            child.join()
            server_cpu = cpu_seconds(server.process.pid) - server_cpu
            assert count == base_count == args.tenants * len(LAYOUT), (count, base_count)
            # Secrets per CPU-second of walker and server together: what one idle core would reach, whatever
            # else the machine is running.
            print(
                f"{label + ':':20} {count / elapsed:8.0f} secrets/s ({elapsed:.2f} s, peak RSS {rss_mb:.0f} MB); "
                f"CPU {client_cpu:.2f} s walker + {server_cpu:.2f} s server = "
                f"{count / (client_cpu + server_cpu):.0f} secrets per CPU-second"
            )
            rates[label] = count / elapsed
        rate, base_rate = rates["project walk"], base_count / base_elapsed
        print(f"plain hvac walk:     {base_rate:8.0f} secrets/s ({base_elapsed:.2f} s)")
        print(
            f"targets: project walk >= {TARGET_SECRETS_PER_SECOND} secrets/s and faster than plain hvac "
            f"(ratio {rate / base_rate:.1f}x)"
        )
    finally:
        server.stop()
    missed = [
        name for name, ok in (("secrets/s", rate >= TARGET_SECRETS_PER_SECOND), ("ratio", rate > base_rate)) if not ok
    ]
    for name in missed:
        print(f"MISSED: {name}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
