"""`credential-health simulator` starts the exchange simulator with the options given, and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

BIN = Path(sys.executable).parent


@pytest.mark.slow  # starts processes
def test_simulator_serves_on_the_port_it_prints():
    process = subprocess.Popen(
        [str(BIN / "credential-health"), "simulator", "--port", "0", "--latency-ms", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("exchange simulator listening on http://127.0.0.1:"), line
        base = line.split()[-1]
        # an unsigned call to a private endpoint is refused as Binance would refuse it: the simulator answers
        answer = requests.get(f"{base}/binance/api/v3/account", timeout=10)
        assert answer.status_code >= 400 and answer.json()
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in errors
