"""`make ui`: the Dagster UI (webserver + daemon) on the demo's living stack, stopped as a whole on Ctrl-C.

OpenBao with the demo's seed, the exchange simulator and the webhook receiver run on loopback; their settings
are exported to `dagster dev`, so the schedule, the sensors, Materialize, backfills and the manual check all
reach real services from the UI.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from credential_health.demo.mix import demo_credentials
from credential_health.demo.run import configure, prepare_home, run_windows, say, seed_credentials, seed_endpoints
from credential_health.demo.services import Services
from credential_health.sandbox.ports import free_port

# `dagster dev` ignores SIGTERM; SIGINT to its process group stops it and the webserver, daemon and code server.
STOP_SIGNAL = signal.SIGINT
STOP_GRACE_SECONDS = 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m credential_health.demo.ui", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port",
        type=int,
        default=os.environ.get("UI_PORT") or "0",
        help="webserver port (default: $UI_PORT, else a free port)",
    )
    parser.add_argument(
        "--windows",
        type=int,
        default=os.environ.get("UI_WINDOWS") or "0",
        help="windows to run before the UI opens, all before the newest complete one, which is "
        "left to launch from the UI (default: $UI_WINDOWS, else 0)",
    )
    return parser.parse_args(argv)


def start_dagster(port: int, home: Path) -> subprocess.Popen:
    """`dagster dev` in its own process group, with the demo's settings in its environment.

    It runs in DAGSTER_HOME, not the project folder, whose production dagster.yaml would draw a warning; its
    INFO lines go to demo-logs/dagster.log. Its notice that `dg dev` supersedes it is silenced (it still works,
    and needs no `dg` project setup)."""
    dagster = Path(sys.executable).parent / "dagster"
    log = open(home / "demo-logs" / "dagster.log", "wb")  # noqa: SIM115 - handed to the child, closed below
    argv = [str(dagster), "dev", "-m", "credential_health.definitions", "-h", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore:Function `dev_command` is superseded"}
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=home, env=env, start_new_session=True)
    log.close()
    return process


def wait_for_webserver(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}; see {log}")
        try:
            if requests.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Dagster webserver did not answer within {timeout:.0f} s; see {log}")


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process remains in the group; orphaned zombies wait for init to reap them."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def stop_dagster(process: subprocess.Popen) -> None:
    """SIGINT to the whole group, then SIGKILL whatever is left after the grace period; waits for all of it."""
    pgid = process.pid
    if group_alive(pgid):
        os.killpg(pgid, STOP_SIGNAL)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while group_alive(pgid) and time.monotonic() < deadline:  # children may outlive the leader briefly
        process.poll()  # reap the leader, or its zombie keeps the group "alive"
        time.sleep(0.2)
    if group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
    process.wait()


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def install_stop_handlers() -> None:
    """Ctrl-C and `kill` both stop the stack. Set again after in-process runs: Dagster's run interrupts
    hand SIGTERM whatever SIGINT had, which is "ignored" when we were started in the background."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)


def banner(url: str, home: Path) -> None:
    print(f"\nDagster UI: {url}", flush=True)
    print(f"  DAGSTER_HOME={home}; logs in {home / 'demo-logs'}", flush=True)
    print("  OpenBao, the exchange simulator and the webhook receiver are up with the demo's tenants.", flush=True)
    print(
        "  credential_health_schedule runs each window as it closes; credential_failure_sensor sends the\n"
        "  webhooks after each rollup (both can be stopped under Automation). Ctrl-C stops everything.",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    install_stop_handlers()
    home = prepare_home(fresh_results=False)  # keeps what `make demo` or an earlier `make ui` stored
    credentials = demo_credentials(os.environ.get("CREDENTIAL_HEALTH_DEMO_SEED"))
    try:
        with Services(home / "demo-logs") as services:
            configure(services)
            seed_credentials(services, credentials)
            seed_endpoints(services, sorted({c.tenant_id for c in credentials}))
            say(f"seeded {len(credentials)} credentials of {len({c.tenant_id for c in credentials})} tenants", started)
            if args.windows:
                run_windows(started, args.windows, leave_newest=1)
                install_stop_handlers()
            return serve(args.port or free_port(), home, started)
    except KeyboardInterrupt:
        print("\nstopped: the UI and every demo service", file=sys.stderr, flush=True)
        return 130


def serve(port: int, home: Path, started: float) -> int:
    """Runs `dagster dev` until it exits or we are interrupted; always stops its whole process group."""
    url = f"http://127.0.0.1:{port}"
    say("starting dagster dev (webserver and daemon) ...", started)
    dagster = start_dagster(port, home)
    try:
        wait_for_webserver(url, dagster, home / "demo-logs" / "dagster.log")
        banner(url, home)
        dagster.wait()
    finally:
        stop_dagster(dagster)
    print(f"dagster dev exited with {dagster.returncode}; see {home / 'demo-logs' / 'dagster.log'}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
