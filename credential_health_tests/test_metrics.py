"""Prometheus exposition from the result tables: names, label sets and values match the rows; gauges for
table-derived state, counters only for what the exporter itself counts; cached between scrapes."""

from __future__ import annotations

import http.server
import math
import threading
from datetime import datetime, timedelta, timezone
from typing import ClassVar

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from credential_health.definitions import defs
from credential_health.metrics import CachedTableCollector, TableGauges, push_if_configured, registry_for
from credential_health.settings import Settings
from credential_health.storage import schema
from credential_health.storage.database import make_engine
from credential_health_tests.fixtures.services import free_port

NOW = datetime.now(timezone.utc)
WINDOW = datetime(NOW.year, NOW.month, NOW.day, tzinfo=timezone.utc) - timedelta(hours=6)
PREVIOUS_WINDOW = WINDOW - timedelta(hours=6)
OLD_WINDOW = WINDOW - timedelta(days=200)


def check(tenant, exchange, status, duration_ms, window=WINDOW, error_code=None):
    row = dict(
        tenant_id=tenant,
        exchange=exchange,
        credential_type="trading",
        window_start=window,
        source="scheduled",
        checked_at=window + timedelta(hours=6),
        status=status,
        error_code=error_code or ("ok" if status == "valid" else "auth_rejected"),
        duration_ms=duration_ms,
        attempts=1,
    )
    if "window_end" in schema.credential_health_checks.c:  # added by migration 0003
        row["window_end"] = window + timedelta(hours=6)
    return row


def status_row(tenant, exchange, last_status, streak, present=True, error_code=None):
    return dict(
        tenant_id=tenant,
        exchange=exchange,
        credential_type="trading",
        last_status=last_status,
        last_error_code=error_code or ("ok" if last_status == "valid" else "auth_rejected"),
        consecutive_failures=streak,
        windows_seen=3,
        present_in_inventory=present,
        updated_at=NOW,
        last_window_start=WINDOW,
    )


@pytest.fixture
def filled(database_url):
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            schema.credential_health_checks.insert(),
            [
                check("acme", "binance", "valid", 40),
                check("initech", "binance", "valid", 300),
                check("hooli", "binance", "invalid", 20),
                check("globex", "kraken", "unknown", 12000, error_code="timeout"),
                check("acme", "binance", "invalid", 10, window=PREVIOUS_WINDOW),
                check("globex", "kraken", "valid", 10, window=PREVIOUS_WINDOW),
                # an old window the retention job removes, and a manual check: neither is in the newest window
                check("acme", "binance", "invalid", 5, window=OLD_WINDOW),
                {**check("acme", "binance", "invalid", 5), "source": "manual"},
            ],
        )
        connection.execute(
            schema.credential_status.insert(),
            [
                status_row("acme", "binance", "valid", 0),
                status_row("globex", "kraken", "invalid", 3),
                status_row("initech", "kraken", "invalid", 4, error_code="permission_denied"),
                status_row("gone", "binance", "invalid", 5, present=False),
            ],
        )
        connection.execute(
            schema.tenant_webhooks.insert(),
            [
                dict(
                    endpoint_id="ep_1",
                    tenant_id="acme",
                    url="https://a.example/h",
                    event_types="credential.failed",
                    active=False,
                    consecutive_failures=10,
                    created_at=NOW,
                    updated_at=NOW,
                ),
                dict(
                    endpoint_id="ep_2",
                    tenant_id="globex",
                    url="https://g.example/h",
                    event_types="credential.failed",
                    active=True,
                    consecutive_failures=2,
                    created_at=NOW,
                    updated_at=NOW,
                ),
            ],
        )
        connection.execute(
            schema.webhook_events.insert(),
            [
                dict(
                    event_id="msg_p",
                    dedupe_key="k",
                    tenant_id="globex",
                    event_type="credential.failed",
                    payload="{}",
                    state="pending",
                    created_at=NOW - timedelta(minutes=20),
                    next_attempt_at=NOW,
                ),
            ],
        )
        connection.execute(
            schema.webhook_delivery_log.insert(),
            [
                dict(
                    event_id="msg_1",
                    tenant_id="acme",
                    event_type="credential.failed",
                    attempt_no=n,
                    attempted_at=NOW - timedelta(minutes=5),
                    duration_ms=5,
                    status_code=code,
                )
                for n, code in enumerate([500, None, 200], start=1)
            ]
            + [
                dict(
                    event_id="msg_0",
                    tenant_id="acme",
                    event_type="credential.failed",
                    attempt_no=1,
                    attempted_at=NOW - timedelta(days=40),
                    duration_ms=5,
                    status_code=500,
                )
            ],
        )
    engine.dispose()
    return database_url


def samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def families(text: str) -> dict:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def scrape(database_url: str, **env) -> str:
    settings = Settings.from_env({"CREDENTIAL_HEALTH_DATABASE_URL": database_url, **env})
    engine = make_engine(database_url)
    try:
        return generate_latest(registry_for(settings, engine)).decode()
    finally:
        engine.dispose()


def test_gauges_match_the_tables(filled):
    values = samples(scrape(filled))
    state = lambda exchange, status, code: values[
        ("credential_health_credentials", (("error_code", code), ("exchange", exchange), ("status", status)))
    ]
    assert state("binance", "valid", "ok") == 1
    assert state("kraken", "invalid", "auth_rejected") == 1 and state("kraken", "invalid", "permission_denied") == 1
    assert (
        "credential_health_credentials",
        (("error_code", "auth_rejected"), ("exchange", "binance"), ("status", "invalid")),
    ) not in values  # "gone" left the inventory
    assert values[("credential_health_failing_credentials", (("exchange", "kraken"),))] == 2
    assert values[("credential_health_failing_credentials", (("exchange", "binance"),))] == 0
    window = lambda exchange, status, code: values[
        ("credential_health_last_window_checks", (("error_code", code), ("exchange", exchange), ("status", status)))
    ]
    assert window("binance", "valid", "ok") == 2  # older windows and the manual check are not counted
    assert window("binance", "invalid", "auth_rejected") == 1 and window("kraken", "unknown", "timeout") == 1
    previous = {labels: v for (name, labels), v in values.items() if name == "credential_health_previous_window_checks"}
    assert previous == {
        (("exchange", "binance"), ("status", "invalid")): 1,
        (("exchange", "kraken"), ("status", "valid")): 1,
    }
    duration = lambda exchange, p: values[
        ("credential_health_last_window_check_duration_seconds", (("exchange", exchange), ("percentile", p)))
    ]
    assert (duration("binance", "50"), duration("binance", "100"), duration("kraken", "99")) == (0.04, 0.3, 12.0)
    assert values[("webhook_endpoints_disabled", ())] == 1 and values[("webhook_endpoints_failing", ())] == 1
    assert values[("webhook_events_pending", ())] == 1
    # the event was created 20 minutes before NOW, which was taken when this module was imported
    oldest_age = (datetime.now(timezone.utc) - NOW).total_seconds() + 20 * 60
    assert values[("webhook_events_oldest_pending_age_seconds", ())] == pytest.approx(oldest_age, abs=60)
    attempts = lambda outcome: values[
        ("webhook_delivery_attempts_last_hour", (("event_type", "credential.failed"), ("outcome", outcome)))
    ]
    assert (attempts("failure"), attempts("success")) == (2, 1)  # the 40-day-old attempt is outside the hour
    expected_age = (datetime.now(timezone.utc) - WINDOW - timedelta(hours=6)).total_seconds()
    assert values[("credential_health_last_window_age_seconds", ())] == pytest.approx(expected_age, abs=30)
    assert values[("credential_health_window_interval_seconds", ())] == 6 * 3600
    assert values[("credential_health_metrics_table_reads_total", ())] == 1


def test_tenant_label_is_opt_in(filled):
    without = samples(scrape(filled))
    assert not any("tenant_id" in dict(labels) for _, labels in without)
    values = samples(scrape(filled, CREDENTIAL_HEALTH_METRICS_TENANT_LABEL="true"))
    assert values[("credential_health_failing_credentials", (("exchange", "kraken"), ("tenant_id", "initech")))] == 1
    assert (
        values[
            (
                "credential_health_credentials",
                (("error_code", "ok"), ("exchange", "binance"), ("status", "valid"), ("tenant_id", "acme")),
            )
        ]
        == 1
    )
    assert (
        values[
            (
                "credential_health_last_window_checks",
                (("error_code", "ok"), ("exchange", "binance"), ("status", "valid"), ("tenant_id", "initech")),
            )
        ]
        == 1
    )


def test_only_the_exporters_own_counts_are_counters(filled):
    types = families(scrape(filled))
    counters = {name for name, kind in types.items() if kind not in ("gauge", "untyped")}
    assert counters == {"credential_health_metrics_table_reads", "credential_health_metrics_table_read_errors"}


def test_reads_are_cached_between_scrapes(filled):
    now = [0.0]
    engine = make_engine(filled)
    settings = Settings.from_env({"CREDENTIAL_HEALTH_DATABASE_URL": filled})
    collector = CachedTableCollector(TableGauges(engine, settings), ttl_seconds=30, clock=lambda: now[0])
    pending = lambda: samples(expose(collector))[("webhook_events_pending", ())]
    assert pending() == 1
    with engine.begin() as connection:
        connection.execute(schema.webhook_events.update().values(state="delivered"))
    now[0] = 29.0
    assert pending() == 1 and collector.reads == 1  # served from the cache
    now[0] = 30.5
    assert pending() == 0 and collector.reads == 2
    engine.dispose()


def expose(collector) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()


def test_a_failed_read_serves_the_last_one_and_is_counted(filled, caplog):
    now = [0.0]
    engine = make_engine(filled)
    settings = Settings.from_env({"CREDENTIAL_HEALTH_DATABASE_URL": filled})
    collector = CachedTableCollector(TableGauges(engine, settings), ttl_seconds=1, clock=lambda: now[0])
    first = samples(expose(collector))
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE webhook_events"))
    now[0] = 5.0
    second = samples(expose(collector))
    assert second[("credential_health_metrics_table_read_errors_total", ())] == 1
    assert second[("webhook_events_pending", ())] == first[("webhook_events_pending", ())] == 1
    assert "could not read the result tables" in caplog.text
    engine.dispose()


def test_a_retention_run_lowers_no_counter_and_changes_no_current_state(filled, monkeypatch):
    settings = Settings.from_env(
        {"CREDENTIAL_HEALTH_DATABASE_URL": filled, "CREDENTIAL_HEALTH_METRICS_CACHE_SECONDS": "0"}
    )
    engine = make_engine(filled)
    registry = registry_for(settings, engine)
    before_text = generate_latest(registry).decode()
    monkeypatch.setenv("CREDENTIAL_HEALTH_DATABASE_URL", filled)
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("retention_job").execute_in_process(instance=instance)
    assert result.output_for_node("delete_expired_rows") == {"checks_deleted": 1, "delivery_log_deleted": 1}
    after_text = generate_latest(registry).decode()
    before, after = samples(before_text), samples(after_text)
    types = families(after_text)
    counter_samples = [key for key in before if types.get(key[0].removesuffix("_total")) == "counter"]
    assert counter_samples and all(after[key] >= before[key] for key in counter_samples)
    moving = {
        "credential_health_last_window_age_seconds",
        "credential_health_metrics_table_reads_total",
        "credential_health_metrics_last_read_timestamp_seconds",
        "webhook_events_oldest_pending_age_seconds",
    }
    assert {k: v for k, v in after.items() if k[0] not in moving} == {
        k: v for k, v in before.items() if k[0] not in moving
    }
    engine.dispose()


def test_empty_tables_give_no_series_and_nan_age(database_url):
    values = samples(scrape(database_url))
    assert not [key for key in values if key[0] == "credential_health_credentials"]
    assert math.isnan(values[("credential_health_last_window_age_seconds", ())])
    assert values[("webhook_events_pending", ())] == 0
    assert values[("webhook_events_oldest_pending_age_seconds", ())] == 0


class _Pushgateway(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list] = []  # shared by the handler instances the server makes

    def do_PUT(self):  # http.server's naming
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
        settings = Settings.from_env(
            {
                "CREDENTIAL_HEALTH_DATABASE_URL": filled,
                "CREDENTIAL_HEALTH_PUSHGATEWAY_URL": f"http://127.0.0.1:{server.server_port}",
            }
        )
        assert push_if_configured(settings, grouping={"run_id": "abc"})
    finally:
        server.shutdown()
    path, body = _Pushgateway.received[-1]
    assert path == "/metrics/job/credential_health/run_id/abc"
    assert samples(body)[("webhook_endpoints_disabled", ())] == 1
    assert set(families(body).values()) == {"gauge"}  # a pushed counter would be replaced, not added up
    assert not push_if_configured(Settings.from_env({"CREDENTIAL_HEALTH_DATABASE_URL": filled}))


def test_an_unreachable_pushgateway_is_logged_not_fatal(filled, caplog):
    settings = Settings.from_env(
        {
            "CREDENTIAL_HEALTH_DATABASE_URL": filled,
            "CREDENTIAL_HEALTH_PUSHGATEWAY_URL": f"http://127.0.0.1:{free_port()}",
        }
    )
    assert push_if_configured(settings) is False
    assert "could not push metrics to the Pushgateway" in caplog.text


def test_an_unreadable_database_does_not_fail_the_run_that_pushes(tmp_path, caplog):
    settings = Settings.from_env(
        {
            "CREDENTIAL_HEALTH_DATABASE_URL": f"sqlite:///{tmp_path / 'no_tables.db'}",
            "CREDENTIAL_HEALTH_PUSHGATEWAY_URL": f"http://127.0.0.1:{free_port()}",
        }
    )
    assert push_if_configured(settings) is False
    assert "could not push metrics to the Pushgateway: OperationalError" in caplog.text
