"""Migration 0004 on SQLite and PostgreSQL: outbox rows survive, gain lease columns, and may be `superseded`."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from credential_health.storage.database import make_engine, upgrade
from credential_health.storage.schema import webhook_events


def test_pending_events_survive_and_gain_delivery_columns(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, "0002")
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:  # written with the 0002 columns only
        connection.execute(
            sa.text(
                "INSERT INTO webhook_events (event_id, dedupe_key, tenant_id, exchange, credential_type, endpoint_id, "
                "event_type, payload, state, attempts, created_at, next_attempt_at) VALUES ('msg_a', 'k', 'acme', "
                "'binance', 'trading', 'ep_1', 'credential.failed', '{}', 'pending', 2, :now, :now)"
            ),
            {"now": now},
        )
    upgrade(engine, "0004")
    with engine.begin() as connection:
        (row,) = connection.execute(sa.select(webhook_events)).all()
        assert (row.state, row.attempts, row.delivery_runs, row.lease_owner, row.lease_expires_at) == (
            "pending",
            2,
            0,
            None,
            None,
        )
        connection.execute(webhook_events.update().values(state="superseded"))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(webhook_events.update().values(state="lost"))
    engine.dispose()
