"""Prometheus metrics: the current state read from the result tables, as gauges (docs/operations.md says why).

Runs are short-lived, so no process lives long enough to own a counter of checks, and a counter recomputed from
the tables drops when retention deletes rows. So every table-derived series is a gauge: credentials by state,
the newest windows' checks, the last hour's deliveries; a read is O(credentials), cached between scrapes. The
only counters are the exporter's own reads of the tables.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from credential_health.models import OutboxState
from credential_health.partitions import CHECK_INTERVAL
from credential_health.settings import Settings
from credential_health.storage.database import make_engine
from credential_health.storage.schema import credential_health_checks as checks
from credential_health.storage.schema import (
    credential_status,
    tenant_webhooks,
    webhook_delivery_log,
    webhook_events,
)

log = logging.getLogger(__name__)

DURATION_PERCENTILES = (50, 90, 99, 100)
DELIVERY_LOOKBACK = timedelta(hours=1)


def _percentile(ordered: list[int], percent: int) -> float:
    """Nearest-rank percentile of sorted milliseconds, in seconds."""
    rank = max(1, -(-len(ordered) * percent // 100))  # ceil without floats
    return ordered[rank - 1] / 1000


class TableGauges:
    """Reads the tables once and returns the gauge families (the exporter caches them; runs push them)."""

    def __init__(self, engine: sa.Engine, settings: Settings):
        self.engine = engine
        self.settings = settings
        self.tenant_label = settings.metrics_tenant_label

    def _labels(self, *names: str) -> list[str]:
        return (["tenant_id"] if self.tenant_label else []) + list(names)

    def _values(self, tenant: str, *values: str) -> tuple[str, ...]:
        return ((tenant,) if self.tenant_label else ()) + values

    def read(self) -> tuple[list, datetime | None]:
        """(families, start of the newest window the rollup has folded in)."""
        with self.engine.connect() as connection:
            families, newest_window = self._credentials(connection)
            families.extend(self._window_checks(connection, newest_window))
            families.append(self._previous_window(connection, newest_window))
            families.extend(self._webhooks(connection))
        interval = GaugeMetricFamily(
            "credential_health_window_interval_seconds",
            "Length of one validation window (CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS).",
            value=CHECK_INTERVAL.total_seconds(),
        )
        return [*families, interval], newest_window

    def _credentials(self, connection) -> tuple[list, datetime | None]:
        by_state = GaugeMetricFamily(
            "credential_health_credentials",
            "Credentials in the inventory, by last status and last error code.",
            labels=self._labels("exchange", "status", "error_code"),
        )
        threshold = self.settings.consecutive_failures_before_alert
        failing = GaugeMetricFamily(
            "credential_health_failing_credentials",
            f"Credentials whose failure streak is at or above the alert threshold ({threshold}).",
            labels=self._labels("exchange"),
        )
        status = credential_status.c
        keys = ([status.tenant_id] if self.tenant_label else []) + [status.exchange]
        grouping = (*keys, status.last_status, status.last_error_code)
        query = (
            sa.select(
                *grouping,
                sa.func.count(),
                sa.func.sum(sa.case((status.consecutive_failures >= threshold, 1), else_=0)),
                sa.func.max(status.last_window_start),
            )
            .where(status.present_in_inventory)
            .group_by(*grouping)
        )
        streaks: Tally = Tally()
        newest_window = None
        for *key, last_status, error_code, count, at_threshold, window in connection.execute(query):
            by_state.add_metric([*key, last_status or "unchecked", error_code or "none"], count)
            streaks[tuple(key)] += int(at_threshold)
            if window is not None and (newest_window is None or window > newest_window):
                newest_window = window
        for labels, count in sorted(streaks.items()):
            failing.add_metric(list(labels), count)
        return [by_state, failing], newest_window

    def _window_checks(self, connection, window: datetime | None) -> list:
        counts = GaugeMetricFamily(
            "credential_health_last_window_checks",
            "Scheduled checks in the newest window the rollup has folded in, by outcome and error code.",
            labels=self._labels("exchange", "status", "error_code"),
        )
        durations = GaugeMetricFamily(
            "credential_health_last_window_check_duration_seconds",
            "Check durations in the newest window, by nearest-rank percentile (100 = slowest).",
            labels=["exchange", "percentile"],
        )
        if window is not None:  # one indexed window: one row per credential
            query = sa.select(
                checks.c.tenant_id, checks.c.exchange, checks.c.status, checks.c.error_code, checks.c.duration_ms
            ).where(checks.c.window_start == window, checks.c.source == "scheduled")
            tally: Tally = Tally()
            by_exchange: dict[str, list[int]] = {}
            for tenant, exchange, status, error_code, duration_ms in connection.execute(query):
                tally[self._values(tenant, exchange, status, error_code)] += 1
                by_exchange.setdefault(exchange, []).append(duration_ms)
            for labels, count in sorted(tally.items()):
                counts.add_metric(list(labels), count)
            for exchange, values in sorted(by_exchange.items()):
                values.sort()
                for percent in DURATION_PERCENTILES:
                    durations.add_metric([exchange, str(percent)], _percentile(values, percent))
        return [counts, durations]

    def _previous_window(self, connection, window: datetime | None) -> GaugeMetricFamily:
        """The window before the newest, so the failure-rate alert needs no `offset` tied to the interval."""
        family = GaugeMetricFamily(
            "credential_health_previous_window_checks",
            "Scheduled checks in the window before the newest one, by outcome.",
            labels=["exchange", "status"],
        )
        scheduled = checks.c.source == "scheduled"
        previous = (
            window
            and connection.execute(  # a backward scan of the (window_start, source) index
                sa.select(sa.func.max(checks.c.window_start)).where(scheduled, checks.c.window_start < window)
            ).scalar_one()
        )
        if previous is not None:
            query = (
                sa.select(checks.c.exchange, checks.c.status, sa.func.count())
                .where(scheduled, checks.c.window_start == previous)
                .group_by(checks.c.exchange, checks.c.status)
            )
            for exchange, status, count in sorted(connection.execute(query)):
                family.add_metric([exchange, status], count)
        return family

    def _webhooks(self, connection) -> list:
        endpoints = GaugeMetricFamily(
            "webhook_endpoints_disabled",
            "Tenant webhook endpoints disabled.",
            value=connection.execute(
                sa.select(sa.func.count()).where(tenant_webhooks.c.active.is_(False))
            ).scalar_one(),
        )
        failing = GaugeMetricFamily(
            "webhook_endpoints_failing",
            "Active endpoints whose latest deliveries failed (breaker not yet open).",
            value=connection.execute(
                sa.select(sa.func.count()).where(
                    tenant_webhooks.c.active.is_(True), tenant_webhooks.c.consecutive_failures > 0
                )
            ).scalar_one(),
        )
        pending_count, oldest = connection.execute(
            sa.select(sa.func.count(), sa.func.min(webhook_events.c.created_at)).where(
                webhook_events.c.state == OutboxState.PENDING
            )
        ).one()
        pending = GaugeMetricFamily(
            "webhook_events_pending", "Webhook events waiting for delivery.", value=pending_count
        )
        oldest_age = GaugeMetricFamily(
            "webhook_events_oldest_pending_age_seconds",
            "Age of the oldest event waiting for delivery (0 when none).",
            value=_age(oldest) if oldest is not None else 0,
        )
        attempts = GaugeMetricFamily(
            "webhook_delivery_attempts_last_hour",
            "Webhook delivery attempts made in the last hour, by outcome.",
            labels=["event_type", "outcome"],
        )
        log_ = webhook_delivery_log.c
        outcome = sa.case((log_.status_code.between(200, 299), "success"), else_="failure").label("outcome")
        since = datetime.now(timezone.utc) - DELIVERY_LOOKBACK
        query = (
            sa.select(log_.event_type, outcome, sa.func.count())
            .where(log_.attempted_at >= since)
            .group_by(log_.event_type, outcome)
        )
        for event_type, result, count in sorted(connection.execute(query)):
            attempts.add_metric([event_type, result], count)
        return [endpoints, failing, pending, oldest_age, attempts]


def _age(moment: datetime) -> float:
    return (datetime.now(timezone.utc) - moment).total_seconds()


def window_age_family(newest_window: datetime | None, interval: timedelta) -> GaugeMetricFamily:
    """Computed at scrape time, so a cached read still reports the true age."""
    family = GaugeMetricFamily(
        "credential_health_last_window_age_seconds",
        "Seconds since the end of the newest window the rollup has folded in (NaN before the first).",
    )
    if newest_window is None:
        family.add_metric([], float("nan"))
    else:
        family.add_metric([], _age(newest_window + interval))
    return family


class CachedTableCollector(Collector):
    """Serves TableGauges, re-read at most every CREDENTIAL_HEALTH_METRICS_CACHE_SECONDS. When a read fails,
    the previous read is served (its age shows in credential_health_metrics_last_read_timestamp_seconds)."""

    def __init__(self, gauges: TableGauges, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.gauges = gauges
        self.ttl = ttl_seconds
        self.clock = clock
        self.lock = threading.Lock()
        self.read_at: float | None = None
        self.read_wall_time = float("nan")
        self.cached: tuple[list, datetime | None] = ([], None)
        self.reads = 0
        self.read_errors = 0

    def _refresh(self) -> None:
        with self.lock:
            if self.read_at is not None and self.clock() - self.read_at < self.ttl:
                return
            try:
                self.cached = self.gauges.read()
                self.reads += 1
                self.read_wall_time = time.time()
            except sa.exc.SQLAlchemyError as exc:
                self.read_errors += 1
                log.warning("could not read the result tables for metrics: %s", type(exc).__name__)
            self.read_at = self.clock()  # a failing database is retried after the TTL too, not on every scrape

    def collect(self) -> Iterator:
        self._refresh()
        families, newest_window = self.cached
        yield from families
        yield window_age_family(newest_window, CHECK_INTERVAL)
        yield CounterMetricFamily(
            "credential_health_metrics_table_reads",
            "Reads of the result tables by this exporter since it started.",
            value=self.reads,
        )
        yield CounterMetricFamily(
            "credential_health_metrics_table_read_errors",
            "Failed reads of the result tables by this exporter since it started.",
            value=self.read_errors,
        )
        yield GaugeMetricFamily(
            "credential_health_metrics_last_read_timestamp_seconds",
            "Unix time of this exporter's last successful read of the tables.",
            value=self.read_wall_time,
        )


def registry_for(settings: Settings, engine: sa.Engine | None = None) -> CollectorRegistry:
    """The exporter's registry (`metrics serve` / `metrics show`): cached table gauges and its own counters."""
    registry = CollectorRegistry(auto_describe=False)
    gauges = TableGauges(engine or make_engine(settings.database_url.get_secret_value()), settings)
    registry.register(CachedTableCollector(gauges, settings.metrics_cache_seconds))
    return registry


class _Families(Collector):
    def __init__(self, families: list):
        self.families = families

    def collect(self) -> Iterator:
        return iter(self.families)


def push_if_configured(settings: Settings, engine: sa.Engine | None = None, grouping: dict | None = None) -> bool:
    """Push the table gauges to CREDENTIAL_HEALTH_PUSHGATEWAY_URL when set; a failure is logged, never fatal.
    Only gauges are pushed: the Pushgateway replaces a group on every push, so a pushed counter would not add up."""
    if not settings.pushgateway_url:
        return False
    gauges = TableGauges(engine or make_engine(settings.database_url.get_secret_value()), settings)
    try:
        families, newest_window = gauges.read()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families([*families, window_age_family(newest_window, CHECK_INTERVAL)]))
        push_to_gateway(
            settings.pushgateway_url,
            job="credential_health",
            registry=registry,
            grouping_key=grouping or {},
            timeout=10,
        )
        return True
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        log.warning("could not push metrics to the Pushgateway: %s", type(exc).__name__)
        return False
