"""Scope audit: the current scope record per credential, every change of it, and each check's egress address.

`credential_scopes` holds what a key's exchange last reported (one row per credential); `credential_scope_changes`
one row per change, keyed by `change_id` (a hash of the credential, the previous change and the new record) so a
rerun or a concurrent run of a window can never add a change twice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from credential_health.storage.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _scope_columns() -> list[sa.Column]:
    """The record's fields (None: the exchange does not report it); the allowlist as a JSON array."""
    return [
        sa.Column("can_trade", sa.Boolean),
        sa.Column("can_withdraw", sa.Boolean),
        sa.Column("can_transfer", sa.Boolean),
        sa.Column("ip_restricted", sa.Boolean),
        sa.Column("ip_allowlist", sa.Text),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("egress_allowlisted", sa.Boolean),
        sa.Column("risk_level", sa.String(16), nullable=False),
        sa.Column("risk_reason", sa.Text),
    ]


def upgrade() -> None:
    op.add_column("credential_health_checks", sa.Column("egress_address", sa.Text))
    op.create_table(
        "credential_scopes",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("exchange", sa.Text, primary_key=True),
        sa.Column("credential_type", sa.Text, primary_key=True),
        *_scope_columns(),
        sa.Column("missing_egress", sa.Text),
        sa.Column("egress_address", sa.Text),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("change_id", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_scopes_risk", "credential_scopes", ["risk_level"])
    op.create_table(
        "credential_scope_changes",
        sa.Column("change_id", sa.String(64), primary_key=True),
        sa.Column("previous_change_id", sa.String(64)),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("credential_type", sa.Text, nullable=False),
        sa.Column("observed_at", UTCDateTime(), nullable=False),
        *_scope_columns(),
        sa.Column("previous_risk_level", sa.String(16)),
        sa.Column("changed_fields", sa.Text, nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_scope_changes_credential",
        "credential_scope_changes",
        ["tenant_id", "exchange", "credential_type", "observed_at"],
    )
    op.create_index("ix_scope_changes_observed_at", "credential_scope_changes", ["observed_at"])


def downgrade() -> None:
    op.drop_table("credential_scope_changes")
    op.drop_table("credential_scopes")
    with op.batch_alter_table("credential_health_checks") as batch:
        batch.drop_column("egress_address")
