"""Webhook endpoints (no secrets), the outbox of events, and the delivery log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenant_webhooks",
        sa.Column("endpoint_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("event_types", sa.String(512), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.String(255)),
        sa.Column("disabled_at", _ts),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("failing_since", _ts),
        sa.Column("last_success_at", _ts),
        sa.Column("last_failure_at", _ts),
        sa.Column("secret_rotated_at", _ts),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("updated_at", _ts, nullable=False),
        sa.UniqueConstraint("tenant_id", "url", name="uq_webhooks_tenant_url"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("dedupe_key", sa.String(600), nullable=False, unique=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("exchange", sa.String(64)),
        sa.Column("credential_type", sa.String(128)),
        sa.Column("endpoint_id", sa.String(64)),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(255)),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("next_attempt_at", _ts, nullable=False),
        sa.Column("delivered_at", _ts),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed', 'undeliverable')", name="ck_events_state"),
    )
    op.create_index("ix_events_state_next", "webhook_events", ["state", "next_attempt_at"])
    op.create_index(
        "ix_events_credential", "webhook_events", ["tenant_id", "exchange", "credential_type", "created_at"]
    )
    op.create_table(
        "webhook_delivery_log",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("endpoint_id", sa.String(64)),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("attempt_no", sa.Integer, nullable=False),
        sa.Column("attempted_at", _ts, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.String(255)),
        sa.Column("response_excerpt", sa.Text),
        sa.Column("run_id", sa.String(64)),
    )
    op.create_index("ix_delivery_event", "webhook_delivery_log", ["event_id"])
    op.create_index("ix_delivery_attempted_at", "webhook_delivery_log", ["attempted_at"])


def downgrade() -> None:
    op.drop_table("webhook_delivery_log")
    op.drop_table("webhook_events")
    op.drop_table("tenant_webhooks")
