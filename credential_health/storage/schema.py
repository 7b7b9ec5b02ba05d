"""The result tables analysts query. Alembic migrations (credential_health/migrations) create them."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

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
    text,
)

from credential_health.storage.types import UTCDateTime

metadata = MetaData()


def _window_end(context) -> datetime:
    """A row written without its window end (a hand-made one) gets the end under the configured interval."""
    from credential_health.settings import variable  # imported late: settings is heavier than this module

    hours = variable("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS").parse(os.environ)
    return context.get_current_parameters()["window_start"] + timedelta(hours=hours)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

credential_health_checks = Table(
    "credential_health_checks",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Text, nullable=False),
    Column("exchange", Text, nullable=False),
    Column("credential_type", Text, nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    # The window's end when the row was written: the rollup's order key, whatever the interval setting is now.
    Column("window_end", UTCDateTime(), nullable=False, default=_window_end),
    Column("source", String(16), nullable=False),
    Column("checked_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(64), nullable=False),
    Column("error_message", String(500)),
    Column("duration_ms", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("run_id", String(64)),
    # Made more than CREDENTIAL_HEALTH_LATE_AFTER_WINDOWS windows after the window ended (a backfill).
    Column("late", Boolean, nullable=False, default=False),
    Column("egress_address", Text),  # the source address the check was sent from (NULL: the host's default)
    CheckConstraint("status IN ('valid', 'invalid', 'unknown')", name="ck_checks_status"),
    CheckConstraint("source IN ('scheduled', 'manual')", name="ck_checks_source"),
    Index("ix_checks_credential_window", "tenant_id", "exchange", "credential_type", "window_start"),
    Index("ix_checks_checked_at", "checked_at"),
    # One scheduled row per credential per window (manual rows are free). Led by window_start, it also serves
    # every per-window read of scheduled rows; manual rows of a window have their own small index.
    Index(
        "uq_checks_scheduled_window",
        "window_start",
        "tenant_id",
        "exchange",
        "credential_type",
        unique=True,
        postgresql_where=text("source = 'scheduled'"),
        sqlite_where=text("source = 'scheduled'"),
    ),
    Index(
        "ix_checks_manual_window",
        "window_start",
        postgresql_where=text("source = 'manual'"),
        sqlite_where=text("source = 'manual'"),
    ),
)

credential_status = Table(
    "credential_status",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("exchange", Text, primary_key=True),
    Column("credential_type", Text, primary_key=True),
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
    Column("tenant_id", Text, nullable=False),
    Column("url", String(2048), nullable=False),
    # comma-separated, e.g. "credential.failed,credential.recovered"
    Column("event_types", String(512), nullable=False),
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
    # sha256 of (episode id, event type, endpoint): bounded whatever the names' lengths.
    Column("dedupe_key", String(600), nullable=False, unique=True),
    Column("tenant_id", Text, nullable=False),
    Column("exchange", Text),
    Column("credential_type", Text),
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
    CheckConstraint(
        "state IN ('pending', 'delivered', 'failed', 'undeliverable', 'superseded')", name="ck_events_state"
    ),
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
    Column("tenant_id", Text, nullable=False),
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

# One row per failure episode: opened when a streak reaches the alert threshold, closed by the next valid
# check (or when the credential leaves the inventory). Written only by the rollup, with the outbox rows.
credential_failure_episodes = Table(
    "credential_failure_episodes",
    metadata,
    Column("episode_id", String(64), primary_key=True),  # derived from the credential and first failing window
    Column("tenant_id", Text, nullable=False),
    Column("exchange", Text, nullable=False),
    Column("credential_type", Text, nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),  # checked_at of the check that reached the threshold
    Column("first_failing_window", UTCDateTime(), nullable=False),  # window_start of the streak's first invalid
    Column("closed_at", UTCDateTime()),
    Column("close_reason", String(16)),  # recovered, removed, revised
    Column("windows_failed", Integer, nullable=False),
    Column("last_error_code", String(64)),
    Column("alerted", Boolean, nullable=False),  # credential.failed was written to the outbox for it
    CheckConstraint("close_reason IN ('recovered', 'removed', 'revised')", name="ck_episodes_close_reason"),
    Index("ix_episodes_credential", "tenant_id", "exchange", "credential_type", "opened_at"),
    Index("ix_episodes_opened_at", "opened_at"),
    Index("ix_episodes_closed_at", "closed_at"),
)


def _scope_columns() -> list[Column]:
    """A ScopeRecord's fields (None: the exchange does not report it; the allowlist as a JSON array) and its risk."""
    return [
        Column("can_trade", Boolean),
        Column("can_withdraw", Boolean),
        Column("can_transfer", Boolean),
        Column("ip_restricted", Boolean),
        Column("ip_allowlist", Text),
        Column("expires_at", UTCDateTime()),
        Column("egress_allowlisted", Boolean),
        Column("risk_level", String(16), nullable=False),  # ok, warning, medium, high (credential_health.scopes.risk)
        Column("risk_reason", Text),
    ]


# The current scope record per credential (written with the window's check rows, in their transaction).
credential_scopes = Table(
    "credential_scopes",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("exchange", Text, primary_key=True),
    Column("credential_type", Text, primary_key=True),
    *_scope_columns(),
    Column("missing_egress", Text),  # published egress addresses the allowlist lacks, comma-separated
    Column("egress_address", Text),  # the address the check that reported this record was sent from
    Column("observed_at", UTCDateTime(), nullable=False),  # checked_at of the newest check reporting it
    Column("changed_at", UTCDateTime(), nullable=False),  # observed_at of the change that made it current
    Column("change_id", String(64), nullable=False),  # that change's row in credential_scope_changes
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_scopes_risk", "risk_level"),
)

# One row per change of a credential's scope record (the first record seen included), kept for analysts.
credential_scope_changes = Table(
    "credential_scope_changes",
    metadata,
    # sha256 of (credential, previous change id, new record): a rerun of a window cannot add it twice
    Column("change_id", String(64), primary_key=True),
    Column("previous_change_id", String(64)),
    Column("tenant_id", Text, nullable=False),
    Column("exchange", Text, nullable=False),
    Column("credential_type", Text, nullable=False),
    Column("observed_at", UTCDateTime(), nullable=False),  # checked_at of the check that first reported it
    *_scope_columns(),
    Column("previous_risk_level", String(16)),
    Column("changed_fields", Text, nullable=False),  # comma-separated; "" for the first record seen
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_scope_changes_credential", "tenant_id", "exchange", "credential_type", "observed_at"),
    Index("ix_scope_changes_observed_at", "observed_at"),
)
