"""Failure episodes; one scheduled row per credential per window, with its window end and a late flag;
unbounded credential names.

Existing checks get `window_end = window_start + CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS` as configured when
this migration runs (the interval the rows were written under is not recorded anywhere), and `late = false`
(they were counted as they came). Duplicate scheduled rows of one credential and window (two runs of one
window) are reduced to the newest (latest checked_at, then highest id). Credentials alerted under the old
planner (`alerted_at` set) get an open, alerted episode, so their recovery is still announced.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import hashlib
import os
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from credential_health.storage.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NAME_COLUMNS = {
    "credential_health_checks": ("tenant_id", "exchange", "credential_type"),
    "credential_status": ("tenant_id", "exchange", "credential_type"),
    "tenant_webhooks": ("tenant_id",),
    "webhook_events": ("tenant_id", "exchange", "credential_type"),
    "webhook_delivery_log": ("tenant_id",),
}
SCHEDULED_ONLY = sa.text("source = 'scheduled'")
MANUAL_ONLY = sa.text("source = 'manual'")
_checks = sa.table(
    "credential_health_checks", sa.column("window_start", UTCDateTime()), sa.column("window_end", UTCDateTime())
)
_status = sa.table(
    "credential_status",
    *(
        sa.column(n)
        for n in (
            "tenant_id",
            "exchange",
            "credential_type",
            "last_error_code",
            "consecutive_failures",
            "present_in_inventory",
        )
    ),
    sa.column("failing_since", UTCDateTime()),
    sa.column("alerted_at", UTCDateTime()),
)


def _interval() -> timedelta:
    hours = int(os.environ.get("CREDENTIAL_HEALTH_CHECK_INTERVAL_HOURS", "6") or "6")
    return timedelta(hours=hours)


def _episode_id(key: tuple, first_failing_window) -> str:
    # Frozen copy of credential_health.episodes.episode_id (a migration must not change with the code).
    text = "\x1f".join((*key, first_failing_window.isoformat()))
    return "ep_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # SQLite never enforces VARCHAR lengths
        for table, columns in NAME_COLUMNS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.Text())

    op.execute(
        "DELETE FROM credential_health_checks WHERE id IN (SELECT id FROM ("
        " SELECT id, ROW_NUMBER() OVER (PARTITION BY tenant_id, exchange, credential_type, window_start"
        " ORDER BY checked_at DESC, id DESC) AS newness FROM credential_health_checks WHERE source = 'scheduled'"
        ") ranked WHERE newness > 1)"
    )
    op.add_column("credential_health_checks", sa.Column("window_end", sa.DateTime(timezone=True)))
    op.add_column("credential_health_checks", sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false()))
    interval = _interval()
    starts = [row[0] for row in bind.execute(sa.select(_checks.c.window_start).distinct())]
    for start in starts:
        bind.execute(_checks.update().where(_checks.c.window_start == start).values(window_end=start + interval))
    with op.batch_alter_table("credential_health_checks") as batch:
        batch.alter_column("window_end", existing_type=sa.DateTime(timezone=True), nullable=False)
    # The unique index, led by window_start, replaces (window_start, source) for scheduled rows; manual rows of a
    # window get a small partial index of their own (one index less to maintain on every window write).
    op.drop_index("ix_checks_window_source", table_name="credential_health_checks")
    op.create_index(
        "uq_checks_scheduled_window",
        "credential_health_checks",
        ["window_start", "tenant_id", "exchange", "credential_type"],
        unique=True,
        postgresql_where=SCHEDULED_ONLY,
        sqlite_where=SCHEDULED_ONLY,
    )
    op.create_index(
        "ix_checks_manual_window",
        "credential_health_checks",
        ["window_start"],
        postgresql_where=MANUAL_ONLY,
        sqlite_where=MANUAL_ONLY,
    )

    episodes = op.create_table(
        "credential_failure_episodes",
        sa.Column("episode_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("credential_type", sa.Text, nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("first_failing_window", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("close_reason", sa.String(16)),
        sa.Column("windows_failed", sa.Integer, nullable=False),
        sa.Column("last_error_code", sa.String(64)),
        sa.Column("alerted", sa.Boolean, nullable=False),
        sa.CheckConstraint("close_reason IN ('recovered', 'removed', 'revised')", name="ck_episodes_close_reason"),
    )
    op.create_index(
        "ix_episodes_credential",
        "credential_failure_episodes",
        ["tenant_id", "exchange", "credential_type", "opened_at"],
    )
    op.create_index("ix_episodes_opened_at", "credential_failure_episodes", ["opened_at"])
    op.create_index("ix_episodes_closed_at", "credential_failure_episodes", ["closed_at"])

    alerted = (
        bind.execute(sa.select(_status).where(_status.c.alerted_at.is_not(None), _status.c.failing_since.is_not(None)))
        .mappings()
        .all()
    )
    rows = []
    for row in alerted:
        key = (row["tenant_id"], row["exchange"], row["credential_type"])
        rows.append(
            dict(
                episode_id=_episode_id(key, row["failing_since"]),
                tenant_id=key[0],
                exchange=key[1],
                credential_type=key[2],
                opened_at=row["alerted_at"],
                first_failing_window=row["failing_since"],
                closed_at=None,
                close_reason=None,
                windows_failed=row["consecutive_failures"],
                last_error_code=row["last_error_code"],
                alerted=True,
            )
        )
    if rows:
        op.bulk_insert(episodes, rows)


def downgrade() -> None:
    op.drop_table("credential_failure_episodes")
    op.drop_index("uq_checks_scheduled_window", table_name="credential_health_checks")
    op.drop_index("ix_checks_manual_window", table_name="credential_health_checks")
    op.create_index("ix_checks_window_source", "credential_health_checks", ["window_start", "source"])
    with op.batch_alter_table("credential_health_checks") as batch:
        batch.drop_column("late")
        batch.drop_column("window_end")
