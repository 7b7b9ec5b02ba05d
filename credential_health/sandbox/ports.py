"""Free loopback ports and health polling for the local services tests, benchmarks and the demo start."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Sequence

import requests


class NotHealthy(RuntimeError):
    """A started service exited, or did not answer 200 on its health URL in time."""

    def __init__(self, message: str, exited: bool):
        super().__init__(message)
        self.exited = exited


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS has just handed out on `host` (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, processes: Sequence[subprocess.Popen] = (), timeout: float = 30.0) -> None:
    """Poll `url` until it answers 200; NotHealthy when one of `processes` exits first or after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if any(p.poll() is not None for p in processes):
            raise NotHealthy(f"the service behind {url} exited at start", exited=True)
        if time.monotonic() > deadline:
            raise NotHealthy(f"{url} did not answer 200 within {timeout:.0f} s", exited=False)
        time.sleep(0.1)
