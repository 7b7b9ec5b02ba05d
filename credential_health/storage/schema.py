"""The five result tables analysts query. Alembic migrations (credential_health/migrations) create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from credential_health.storage.types import UTCDateTime

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

credential_health_checks = Table(
    "credential_health_checks",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", String(255), nullable=False),
    Column("exchange", String(64), nullable=False),
    Column("credential_type", String(128), nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("source", String(16), nullable=False),
    Column("checked_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64), nullable=False),
    Column("error_message", String(500)),
    Column("duration_ms", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("run_id", String(64)),
    CheckConstraint("status IN ('valid', 'invalid', 'unknown')", name="ck_checks_status"),
    CheckConstraint("source IN ('scheduled', 'manual')", name="ck_checks_source"),
    Index("ix_checks_window_source", "window_start", "source"),
    Index("ix_checks_credential_window", "tenant_id", "exchange", "credential_type", "window_start"),
    Index("ix_checks_checked_at", "checked_at"),
)

credential_status = Table(
    "credential_status",
    metadata,
    Column("tenant_id", String(255), primary_key=True),
    Column("exchange", String(64), primary_key=True),
    Column("credential_type", String(128), primary_key=True),
    Column("last_status", String(16)),
    Column("last_error_code", String(64)),
    Column("last_error_message", String(500)),
    Column("last_checked_at", UTCDateTime()),
    Column("last_window_start", UTCDateTime()),
    Column("last_success_at", UTCDateTime()),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("failing_since", UTCDateTime()),
    Column("windows_seen", Integer, nullable=False, default=0),
    # Order key of the newest event folded in (window end, or a manual check's time): decides
    # whether the next window can be applied incrementally or needs a recompute (backfill).
    Column("last_event_at", UTCDateTime()),
    Column("alerted_at", UTCDateTime()),
    Column("present_in_inventory", Boolean, nullable=False, default=True),
    Column("removed_at", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_status_failures", "consecutive_failures"),
)

tenant_webhooks = Table(
    "tenant_webhooks",
    metadata,
    Column("endpoint_id", String(64), primary_key=True),
    Column("tenant_id", String(255), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("event_types", String(512), nullable=False),  # comma-separated, e.g. "credential.failed,credential.recovered"
    Column("active", Boolean, nullable=False, default=True),
    Column("disabled_reason", String(255)),
    Column("disabled_at", UTCDateTime()),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("failing_since", UTCDateTime()),
    Column("last_success_at", UTCDateTime()),
    Column("last_failure_at", UTCDateTime()),
    Column("secret_rotated_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("tenant_id", "url", name="uq_webhooks_tenant_url"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", String(64), primary_key=True),  # the `webhook-id`, stable across retries and replays
    Column("dedupe_key", String(600), nullable=False, unique=True),  # one event per episode
    Column("tenant_id", String(255), nullable=False),
    Column("exchange", String(64)),
    Column("credential_type", String(128)),
    Column("endpoint_id", String(64)),  # one row per event per endpoint; NULL when the tenant had none
    Column("event_type", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # the exact JSON bytes signed and sent (never a secret)
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(255)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Column("lease_owner", String(128)),  # the delivery worker holding the event; outcomes need it (compare-and-set)
    Column("lease_expires_at", UTCDateTime()),  # a killed worker's events are claimable again after this
    Column("delivery_runs", Integer, nullable=False, default=0, server_default="0"),  # failed after the limit
    CheckConstraint("state IN ('pending', 'delivered', 'failed', 'undeliverable', 'superseded')",
                    name="ck_events_state"),
    Index("ix_events_state_next", "state", "next_attempt_at"),
    Index("ix_events_lease", "lease_owner"),
    Index("ix_events_credential", "tenant_id", "exchange", "credential_type", "created_at"),
)

webhook_delivery_log = Table(
    "webhook_delivery_log",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("endpoint_id", String(64)),
    Column("tenant_id", String(255), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("attempted_at", UTCDateTime(), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer),
    Column("error", String(255)),
    Column("response_excerpt", Text),
    Column("run_id", String(64)),
    Index("ix_delivery_event", "event_id"),
    Index("ix_delivery_attempted_at", "attempted_at"),
)
