"""Prometheus exposition from the result tables: names, label sets and values match the rows."""

from __future__ import annotations

import http.server
import math
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from credential_health.metrics import push_if_configured
from credential_health.settings import Settings
from credential_health.storage import schema
from credential_health.storage.database import make_engine
from credential_health_tests.fixtures.services import free_port

WINDOW = datetime(2026, 11, 22, 0, tzinfo=timezone.utc)


def check(tenant, exchange, status, duration_ms, window=WINDOW):
    return dict(tenant_id=tenant, exchange=exchange, credential_type="trading", window_start=window,
                source="scheduled", checked_at=window + timedelta(hours=6), status=status,
                error_code="ok" if status == "valid" else "auth_rejected", duration_ms=duration_ms, attempts=1)


def status_row(tenant, exchange, last_status, streak, present=True):
    now = datetime.now(timezone.utc)
    return dict(tenant_id=tenant, exchange=exchange, credential_type="trading", last_status=last_status,
                consecutive_failures=streak, windows_seen=3, present_in_inventory=present, updated_at=now)


@pytest.fixture
def filled(database_url):
    now = datetime.now(timezone.utc)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(schema.credential_health_checks.insert(), [
            check("acme", "binance", "valid", 40), check("acme", "binance", "valid", 300, WINDOW - timedelta(hours=6)),
            check("acme", "binance", "invalid", 20, WINDOW - timedelta(hours=12)),  # one scheduled row per window
            check("globex", "kraken", "unknown", 12000),
        ])
        connection.execute(schema.credential_status.insert(), [
            status_row("acme", "binance", "valid", 0), status_row("globex", "kraken", "invalid", 3),
            status_row("initech", "kraken", "invalid", 4), status_row("gone", "binance", "invalid", 5, present=False),
        ])
        connection.execute(schema.tenant_webhooks.insert(), [
            dict(endpoint_id="ep_1", tenant_id="acme", url="https://a.example/h", event_types="credential.failed",
                 active=False, consecutive_failures=10, created_at=now, updated_at=now),
        ])
        connection.execute(schema.webhook_delivery_log.insert(), [
            dict(event_id="msg_1", tenant_id="acme", event_type="credential.failed", attempt_no=n, attempted_at=now,
                 duration_ms=5, status_code=code) for n, code in enumerate([500, None, 200], start=1)
        ])
    return database_url


def samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_served_over_http_match_the_tables(filled):
    port = free_port()
    env = {**os.environ, "CREDENTIAL_HEALTH_DATABASE_URL": filled}
    server = subprocess.Popen([sys.executable, "-m", "credential_health.cli", "metrics", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert "serving metrics" in server.stdout.readline()
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        server.terminate()
        server.wait(10)
    values = samples(body)
    assert values[("credential_health_check_total", (("exchange", "binance"), ("result", "valid"), ("tenant_id", "acme")))] == 2
    assert values[("credential_health_check_total", (("exchange", "binance"), ("result", "invalid"), ("tenant_id", "acme")))] == 1
    assert values[("credential_health_check_total", (("exchange", "kraken"), ("result", "unknown"), ("tenant_id", "globex")))] == 1
    binance = lambda le: values[("credential_health_check_duration_seconds_bucket", (("exchange", "binance"), ("le", le)))]
    assert (binance("0.05"), binance("0.25"), binance("0.5"), binance("+Inf")) == (2, 2, 3, 3)
    assert values[("credential_health_check_duration_seconds_sum", (("exchange", "binance"),))] == pytest.approx(0.36)
    assert values[("credential_health_check_duration_seconds_count", (("exchange", "kraken"),))] == 1
    assert values[("webhook_delivery_total", (("event_type", "credential.failed"), ("status", "failure")))] == 2
    assert values[("webhook_delivery_total", (("event_type", "credential.failed"), ("status", "success")))] == 1
    assert values[("credential_health_credentials", (("status", "invalid"),))] == 2  # the removed one is not counted
    assert values[("credential_health_credentials", (("status", "valid"),))] == 1
    assert values[("credential_health_failing_credentials", ())] == 2
    assert values[("webhook_endpoints_disabled", ())] == 1
    expected_age = (datetime.now(timezone.utc) - WINDOW - timedelta(hours=6)).total_seconds()
    assert values[("credential_health_last_window_age_seconds", ())] == pytest.approx(expected_age, abs=30)


def test_empty_tables_give_zero_counts_and_nan_age(database_url, capsys, monkeypatch):
    from credential_health.cli import main

    monkeypatch.setenv("CREDENTIAL_HEALTH_DATABASE_URL", database_url)
    assert main(["metrics", "show"]) == 0
    values = samples(capsys.readouterr().out)
    assert values[("credential_health_credentials", (("status", "valid"),))] == 0
    assert math.isnan(values[("credential_health_last_window_age_seconds", ())])


class _Pushgateway(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_PUT(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body.decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_push_to_a_pushgateway_when_configured(filled):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pushgateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings.from_env({"CREDENTIAL_HEALTH_DATABASE_URL": filled,
                                      "CREDENTIAL_HEALTH_PUSHGATEWAY_URL": f"http://127.0.0.1:{server.server_port}"})
        assert push_if_configured(settings, grouping={"run_id": "abc"})
    finally:
        server.shutdown()
    path, body = _Pushgateway.received[-1]
    assert path == "/metrics/job/credential_health/run_id/abc"
    assert samples(body)[("webhook_endpoints_disabled", ())] == 1
    assert not push_if_configured(Settings.from_env({"CREDENTIAL_HEALTH_DATABASE_URL": filled}))


def test_an_unreachable_pushgateway_is_logged_not_fatal(filled, caplog):
    settings = Settings.from_env({"CREDENTIAL_HEALTH_DATABASE_URL": filled,
                                  "CREDENTIAL_HEALTH_PUSHGATEWAY_URL": f"http://127.0.0.1:{free_port()}"})
    assert push_if_configured(settings) is False
    assert "could not push metrics" in caplog.text
