"""Checks audit table and the per-credential status rollup.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "credential_health_checks",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("exchange", sa.String(64), nullable=False),
        sa.Column("credential_type", sa.String(128), nullable=False),
        sa.Column("window_start", _ts, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("checked_at", _ts, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("error_message", sa.String(500)),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.CheckConstraint("status IN ('valid', 'invalid', 'unknown')", name="ck_checks_status"),
        sa.CheckConstraint("source IN ('scheduled', 'manual')", name="ck_checks_source"),
    )
    op.create_index("ix_checks_window_source", "credential_health_checks", ["window_start", "source"])
    op.create_index(
        "ix_checks_credential_window",
        "credential_health_checks",
        ["tenant_id", "exchange", "credential_type", "window_start"],
    )
    op.create_index("ix_checks_checked_at", "credential_health_checks", ["checked_at"])

    op.create_table(
        "credential_status",
        sa.Column("tenant_id", sa.String(255), primary_key=True),
        sa.Column("exchange", sa.String(64), primary_key=True),
        sa.Column("credential_type", sa.String(128), primary_key=True),
        sa.Column("last_status", sa.String(16)),
        sa.Column("last_error_code", sa.String(64)),
        sa.Column("last_error_message", sa.String(500)),
        sa.Column("last_checked_at", _ts),
        sa.Column("last_window_start", _ts),
        sa.Column("last_success_at", _ts),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("failing_since", _ts),
        sa.Column("windows_seen", sa.Integer, nullable=False),
        sa.Column("last_event_at", _ts),
        sa.Column("alerted_at", _ts),
        sa.Column("present_in_inventory", sa.Boolean, nullable=False),
        sa.Column("removed_at", _ts),
        sa.Column("updated_at", _ts, nullable=False),
    )
    op.create_index("ix_status_failures", "credential_status", ["consecutive_failures"])


def downgrade() -> None:
    op.drop_table("credential_status")
    op.drop_table("credential_health_checks")
