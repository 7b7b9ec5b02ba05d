"""Upserts: staged through COPY on PostgreSQL for many rows, executemany otherwise; only the named columns change."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from credential_health.storage.database import make_engine
from credential_health.storage.schema import credential_status
from credential_health.storage.upsert import STAGE_FROM, upsert

COLUMNS = (
    "tenant_id",
    "exchange",
    "credential_type",
    "consecutive_failures",
    "windows_seen",
    "present_in_inventory",
    "updated_at",
    "last_error_message",
)
KEYS = ("tenant_id", "exchange", "credential_type")


def test_many_and_few_rows_update_only_what_is_named(database_url):
    engine = make_engine(database_url)
    now = datetime.now(timezone.utc)
    many = STAGE_FROM + 50
    rows = [
        (f"t{i:04d}" + "x" * 300, "binance", "trading", i, 1, True, now, 'a "quoted", message') for i in range(many)
    ]
    with engine.begin() as connection:
        upsert(connection, credential_status, COLUMNS, KEYS, ("consecutive_failures",), rows)
        changed = [(*row[:3], 1000 + row[3], 99, False, now, "other") for row in rows[: many // 2]]
        upsert(connection, credential_status, COLUMNS, KEYS, ("consecutive_failures",), changed)  # staged
        upsert(connection, credential_status, COLUMNS, KEYS, ("windows_seen",), changed[:3])  # executemany
        stored = {r.tenant_id: r for r in connection.execute(sa.select(credential_status))}
    assert len(stored) == many
    first, last = stored[rows[0][0]], stored[rows[-1][0]]
    assert (first.consecutive_failures, first.windows_seen, first.present_in_inventory) == (1000, 99, True)
    assert (last.consecutive_failures, last.windows_seen) == (many - 1, 1)
    assert last.last_error_message == 'a "quoted", message' and last.updated_at == now
    engine.dispose()
