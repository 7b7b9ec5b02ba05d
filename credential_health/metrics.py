"""Prometheus metrics computed from the result tables at scrape time.

Runs are short-lived processes, so nothing is kept in memory: every scrape reads the tables (a few
aggregate queries over indexed columns). Counters count the rows the retention job has kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from credential_health.settings import Settings
from credential_health.storage.database import make_engine
from credential_health.storage.schema import (
    credential_health_checks as checks,
)
from credential_health.storage.schema import (
    credential_status,
    tenant_webhooks,
    webhook_delivery_log,
    webhook_events,
)

log = logging.getLogger(__name__)

DURATION_BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ResultTablesCollector(Collector):
    """Yields every credential_health metric from the result tables."""

    def __init__(self, engine: sa.Engine, settings: Settings):
        self.engine = engine
        self.settings = settings

    def collect(self) -> Iterator:
        with self.engine.connect() as connection:
            yield self._check_totals(connection)
            yield self._check_durations(connection)
            yield self._deliveries(connection)
            yield from self._gauges(connection)

    def _check_totals(self, connection) -> CounterMetricFamily:
        family = CounterMetricFamily(
            "credential_health_check", "Credential checks made, by outcome.", labels=["tenant_id", "exchange", "result"]
        )
        query = sa.select(checks.c.tenant_id, checks.c.exchange, checks.c.status, sa.func.count()).group_by(
            checks.c.tenant_id, checks.c.exchange, checks.c.status
        )
        for tenant_id, exchange, status, count in connection.execute(query):
            family.add_metric([tenant_id, exchange, status], count)
        return family

    def _check_durations(self, connection) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "credential_health_check_duration_seconds", "Duration of one credential check.", labels=["exchange"]
        )
        bucket_columns = [
            sa.func.sum(sa.case((checks.c.duration_ms <= bound * 1000, 1), else_=0)) for bound in DURATION_BUCKETS_SECONDS
        ]
        query = sa.select(
            checks.c.exchange, sa.func.count(), sa.func.sum(checks.c.duration_ms), *bucket_columns
        ).group_by(checks.c.exchange)
        for exchange, count, total_ms, *cumulative in connection.execute(query):
            buckets = [(str(bound), int(n)) for bound, n in zip(DURATION_BUCKETS_SECONDS, cumulative)]
            family.add_metric([exchange], buckets + [("+Inf", count)], sum_value=(total_ms or 0) / 1000)
        return family

    def _deliveries(self, connection) -> CounterMetricFamily:
        family = CounterMetricFamily(
            "webhook_delivery", "Webhook delivery attempts, by event type and outcome.", labels=["event_type", "status"]
        )
        outcome = sa.case(
            (webhook_delivery_log.c.status_code.between(200, 299), "success"), else_="failure"
        ).label("outcome")
        query = sa.select(webhook_delivery_log.c.event_type, outcome, sa.func.count()).group_by(
            webhook_delivery_log.c.event_type, outcome
        )
        for event_type, status, count in connection.execute(query):
            family.add_metric([event_type, status], count)
        return family

    def _gauges(self, connection) -> Iterator[GaugeMetricFamily]:
        by_status = GaugeMetricFamily(
            "credential_health_credentials", "Credentials in the inventory, by last status.", labels=["status"]
        )
        present = credential_status.c.present_in_inventory.is_(True)
        counts = dict(connection.execute(
            sa.select(credential_status.c.last_status, sa.func.count()).where(present).group_by(credential_status.c.last_status)
        ).all())
        for status in ("valid", "invalid", "unknown"):
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status

        threshold = self.settings.consecutive_failures_before_alert
        failing = connection.execute(
            sa.select(sa.func.count()).where(present, credential_status.c.consecutive_failures >= threshold)
        ).scalar_one()
        yield GaugeMetricFamily(
            "credential_health_failing_credentials",
            f"Credentials whose failure streak is at or above the alert threshold ({threshold}).",
            value=failing,
        )
        disabled = connection.execute(
            sa.select(sa.func.count()).select_from(tenant_webhooks).where(tenant_webhooks.c.active.is_(False))
        ).scalar_one()
        yield GaugeMetricFamily("webhook_endpoints_disabled", "Tenant webhook endpoints disabled.", value=disabled)
        pending = connection.execute(
            sa.select(sa.func.count()).select_from(webhook_events).where(webhook_events.c.state == "pending")
        ).scalar_one()
        yield GaugeMetricFamily("webhook_events_pending", "Webhook events waiting for delivery.", value=pending)

        last_window = connection.execute(
            sa.select(sa.func.max(checks.c.window_start)).where(checks.c.source == "scheduled")
        ).scalar_one()
        age = GaugeMetricFamily(
            "credential_health_last_window_age_seconds",
            "Seconds since the end of the newest validated window (NaN before the first).",
        )
        if last_window is not None:  # max() keeps the column's type: a tz-aware datetime on every backend
            window_end = last_window + timedelta(hours=self.settings.check_interval_hours)
            age.add_metric([], (datetime.now(timezone.utc) - window_end).total_seconds())
        else:
            age.add_metric([], float("nan"))
        yield age


def registry_for(settings: Settings, engine: sa.Engine | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ResultTablesCollector(engine or make_engine(settings.database_url), settings))
    return registry


def push_if_configured(settings: Settings, engine: sa.Engine | None = None, grouping: dict | None = None) -> bool:
    """Push the metrics to CREDENTIAL_HEALTH_PUSHGATEWAY_URL when set; a failed push is logged, never fatal."""
    if not settings.pushgateway_url:
        return False
    try:
        push_to_gateway(settings.pushgateway_url, job="credential_health", registry=registry_for(settings, engine),
                        grouping_key=grouping or {}, timeout=10)
        return True
    except OSError as exc:
        log.warning("could not push metrics to the Pushgateway: %s", type(exc).__name__)
        return False
