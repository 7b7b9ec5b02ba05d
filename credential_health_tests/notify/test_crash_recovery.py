"""A notify process killed mid-delivery: the committed outbox row is delivered by the next run, same webhook-id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import notify_tenants
from credential_health.storage.schema import webhook_events
from credential_health_tests.notify.conftest import put_status
from credential_health_tests.notify.test_outbox import register

NOTIFY_ONCE = """
from credential_health.notify.secrets import WebhookSecretStore
from credential_health.notify.service import notify_tenants
from credential_health.settings import Settings
from credential_health.storage.database import make_engine
settings = Settings.from_env()
notify_tenants(settings, make_engine(settings.database_url), WebhookSecretStore.from_settings(settings))
"""


def test_sigkill_mid_delivery_is_completed_by_the_next_run(settings, engine, webhook_receiver, notify_env):
    register(settings, engine, webhook_receiver, "acme")
    webhook_receiver.script("/acme", [{"status": 200, "delay": 30}])  # hangs while we kill the sender
    put_status(engine, "acme", 3)
    env = {**os.environ, **notify_env, "WEBHOOK_TIMEOUT_SECONDS": "60"}
    process = subprocess.Popen([sys.executable, "-c", NOTIFY_ONCE], env=env)
    deadline = time.monotonic() + 60
    while not webhook_receiver.received("/acme") and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert webhook_receiver.received("/acme"), "the first delivery attempt never arrived"
    process.send_signal(signal.SIGKILL)
    process.wait(10)

    with engine.connect() as connection:
        (event,) = connection.execute(sa.select(webhook_events)).all()
    assert event.state == "pending"  # committed before the HTTP attempt, not lost with the process
    first_id = webhook_receiver.received("/acme")[0].headers["webhook-id"]
    assert first_id == event.event_id

    report = notify_tenants(settings, engine, WebhookSecretStore.from_settings(settings))
    assert report.dispatch.delivered == 1
    (accepted,) = webhook_receiver.accepted("/acme")
    assert accepted.headers["webhook-id"] == first_id
