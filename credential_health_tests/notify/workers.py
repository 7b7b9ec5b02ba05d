"""Delivery worker processes for the concurrency and crash tests: the real `dispatch`, one process each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Waits for the `go` file (so every worker starts claiming at once), runs one delivery run, prints its report.
WORKER = """
import json, os, sys, time
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import dispatch
from credential_health.settings import Settings
from credential_health.storage.database import make_engine
go = sys.argv[1]
settings = Settings.from_env()
engine = make_engine(settings.database_url.get_secret_value())
while go and not os.path.exists(go):
    time.sleep(0.01)
report = dispatch(settings, engine, WebhookSecretStore.from_settings(settings))
print(json.dumps({"delivered": report.delivered, "failed": report.failed, "deferred": report.deferred,
                  "lost_leases": report.lost_leases}), flush=True)
"""


def start_worker(env: dict[str, str], go: Path | None = None) -> subprocess.Popen:
    """A delivery worker process with `env` on top of this one's environment."""
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(go or "")], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
    )
