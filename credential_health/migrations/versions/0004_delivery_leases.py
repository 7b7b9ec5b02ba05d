"""Delivery leases on the outbox, a count of delivery runs per event, and the `superseded` state.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)
_OLD_STATES = "state IN ('pending', 'delivered', 'failed', 'undeliverable')"
_NEW_STATES = "state IN ('pending', 'delivered', 'failed', 'undeliverable', 'superseded')"


def _states(batch, condition: str) -> None:
    batch.drop_constraint("ck_events_state", type_="check")
    batch.create_check_constraint("ck_events_state", condition)


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint in place: batch mode copies the table (rows kept).
    with op.batch_alter_table("webhook_events") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(128)))
        batch.add_column(sa.Column("lease_expires_at", _ts))
        batch.add_column(sa.Column("delivery_runs", sa.Integer, nullable=False, server_default="0"))
        _states(batch, _NEW_STATES)
    op.create_index("ix_events_lease", "webhook_events", ["lease_owner"])


def downgrade() -> None:
    op.execute("UPDATE webhook_events SET state = 'failed' WHERE state = 'superseded'")
    op.drop_index("ix_events_lease", "webhook_events")
    with op.batch_alter_table("webhook_events") as batch:
        _states(batch, _OLD_STATES)
        batch.drop_column("delivery_runs")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
