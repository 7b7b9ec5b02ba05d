"""Starts the demo's real components as child processes on loopback, and always stops them."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from credential_health.sandbox.openbao import launch_openbao
from credential_health.sandbox.ports import NotHealthy, free_port, wait_healthy


class Services:
    """OpenBao dev server, exchange simulator and webhook receiver; a context manager that stops them all."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []
        self.vault_token = "demo-" + secrets.token_hex(12)
        self.vault_addr = self.simulator_url = self.receiver_url = ""

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - handed to the child, closed below
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        # Own session: Ctrl-C in the terminal reaches only us, and we stop the whole group ourselves.
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()  # the child has its own copy of the descriptor
        self.processes.append(process)
        return process

    def start(self) -> Services:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        bao = launch_openbao(self.vault_token, start_new_session=True)  # no log: it prints its root token
        self.processes.append(bao.process)
        self.vault_addr = bao.addr
        port = free_port()
        self.simulator_url = f"http://127.0.0.1:{port}"
        self._spawn(
            "simulator",
            [
                sys.executable,
                "-m",
                "credential_health.sandbox.exchange_simulator",
                "--port",
                str(port),
                "--hang-cap-seconds",
                "5",
                "--weight-per-minute",
                "1000000",
            ],
        )  # the demo is not about Binance's IP limit
        port = free_port()
        self.receiver_url = f"http://127.0.0.1:{port}"
        self._spawn(
            "receiver", [sys.executable, "-m", "credential_health.sandbox.webhook_receiver", "--port", str(port)]
        )
        self._wait_until_up()
        return self

    def _wait_until_up(self, timeout: float = 60) -> None:
        probes = [
            f"{self.vault_addr}/v1/sys/health",
            f"{self.simulator_url}/__sim/health",
            f"{self.receiver_url}/__receiver/received",
        ]
        deadline = time.monotonic() + timeout
        for probe in probes:
            try:
                wait_healthy(probe, self.processes, max(0.0, deadline - time.monotonic()))
            except NotHealthy as exc:
                if exc.exited:
                    raise RuntimeError(f"a demo service exited at start; see the logs in {self.log_dir}") from None
                raise RuntimeError(f"demo services did not start within {timeout:.0f} s; see {self.log_dir}") from None

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def __enter__(self) -> Services:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
